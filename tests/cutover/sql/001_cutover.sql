-- Target of tests/cutover/mapping.yaml: unique keys the mapping declares (email, person
-- tags) and one it does not know (a CHECK on score).
CREATE TABLE IF NOT EXISTS people (
    id    uuid PRIMARY KEY,
    email text NOT NULL UNIQUE,
    name  text,
    score integer CHECK (score IS NULL OR score >= 0)
);
CREATE TABLE IF NOT EXISTS person_tags (
    id        uuid PRIMARY KEY,
    person_id uuid NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    ordinal   integer NOT NULL,
    tag       text NOT NULL,
    UNIQUE (person_id, tag)
);
CREATE TABLE IF NOT EXISTS person_devices (
    id        uuid PRIMARY KEY,      -- from the device's own _id
    person_id uuid NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    ordinal   integer NOT NULL,
    label     text
);
CREATE TABLE IF NOT EXISTS notes (
    id        uuid PRIMARY KEY,
    person_id uuid REFERENCES people (id) ON DELETE CASCADE,
    body      text
);
