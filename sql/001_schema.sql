-- mongonorm schema version 1: MediChat target schema (15 tables)
--
-- Target: PostgreSQL 15, schema public.  Sources: /work/shared/spec/target-schema.md
-- (tables, columns, keys) and source-model.md (what the MongoDB data guarantees).
-- The mapping that feeds these tables is mapping/medichat.yaml; the decisions it
-- makes are listed in docs/medichat-mapping-decisions.md.
--
-- How to apply: in one transaction (`psql -v ON_ERROR_STOP=1 -1 -f sql/001_schema.sql`,
-- or `mongonorm init --sql-dir sql`).  Every statement is IF NOT EXISTS / OR REPLACE /
-- ON CONFLICT DO NOTHING, so applying the file again to a database that already has
-- version 1 changes nothing.  schema_migrations is MediChat's own table: the file records
-- its own version there, at its end (mongonorm keeps its record of applied files apart,
-- in mongonorm.schema_files).
--
-- Conventions
-- * Primary keys are uuid columns named id.  Tables fed by the converter have no
--   default: the converter derives every id from the source (_id of the document or
--   sub-document, else a name-based UUID), so a re-run produces the same ids.
--   sessions and mfa_tokens have no MongoDB source and default to gen_random_uuid()
--   (built into PostgreSQL 13+, no extension needed).
-- * Columns fed by the converter have NO defaults, on purpose: a default would put the
--   load time into a column the source does not fill, and two loads of the same data
--   would then differ.  A NULL means "the source did not say".
-- * NOT NULL only where the source (plus the mapping's required/reject rules)
--   guarantees a value: ids, parent keys, ordinal, users.email, users.role,
--   medical_history.category.
-- * CHECK constraints hold enums exactly; the mapping trims and lower-cases (upper-cases
--   for blood types) and rejects or nulls anything outside the list before it gets here,
--   so the CHECKs are strict.  NULL always passes a CHECK.
-- * Columns that the spec's lists do not name but that hold source data the listed
--   columns cannot are marked "ADDED:" with the source field they hold.

-- ---------------------------------------------------------------------------
-- 15. schema_migrations: applied schema versions (each file records its own, at its end)
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.schema_migrations (
    version     integer     PRIMARY KEY,
    description text,
    applied_at  timestamptz DEFAULT now()
);

-- ---------------------------------------------------------------------------
-- updated_at trigger function (shared by every table with an updated_at column)
--
-- Sets updated_at = now() only when
--   * the row actually changes (NEW IS DISTINCT FROM OLD; the trigger's WHEN clause
--     also skips no-op updates before the function is even called), and
--   * the UPDATE did not set updated_at itself (NEW.updated_at is still OLD's value).
-- The converter writes the source document's updatedAt into updated_at: a value the
-- UPDATE supplies is never overwritten.
--
-- Converter bypass: a session that runs `SET LOCAL mongonorm.loading = 'on'` is never
-- touched by this trigger.  The converter should do that in its load transactions,
-- because its child rows have no source updated_at (it writes NULL): without the
-- bypass, an incremental run that changes such a row would stamp now() into it, and
-- the table would differ from a full load of the same source state.
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.mn_set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('mongonorm.loading', true), '') = 'on' THEN
        RETURN NEW;
    END IF;
    IF NEW IS DISTINCT FROM OLD
       AND NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION public.mn_set_updated_at() IS
    'BEFORE UPDATE: updated_at = now() when the row changed and the UPDATE did not set '
    'updated_at itself; skipped when mongonorm.loading = on (the converter''s sessions)';

-- ---------------------------------------------------------------------------
-- 1. users: one row per users document
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.users (
    id                 uuid        PRIMARY KEY,
    email              text        NOT NULL,   -- trimmed + lower-cased by the mapping
    password_hash      text,                   -- bcrypt hash, copied as is
    role               text        NOT NULL,
    first_name         text,                   -- "required" in the model, not in old data
    last_name          text,
    phone              text,
    date_of_birth      date,
    -- ADDED: source text of dateOfBirth when it is not a date (the column gets NULL);
    -- a birth date is clinical data, so the unparsable text is kept, not dropped.
    date_of_birth_text text,
    profile_photo      text,
    specialization     text,                   -- doctors only
    license_number     text,                   -- doctors only
    -- ADDED: preferredLanguage for every role.  patient_medical_info.preferred_language
    -- holds it for patients too, but doctors and admins have no medical-info row and
    -- the Mongoose model gives every user a preferredLanguage (default English).
    preferred_language text,
    is_active          boolean,                -- NULL: missing in the source (app read it as true)
    email_verified     boolean,                -- NULL: missing in the source (app read it as false)
    created_at         timestamptz,
    updated_at         timestamptz,
    last_login_at      timestamptz,
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_role_check CHECK (role IN ('patient', 'doctor', 'admin'))
);

-- ---------------------------------------------------------------------------
-- 2. patient_medical_info: one row per patient (1:1), the medical fields of users
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.patient_medical_info (
    id                      uuid PRIMARY KEY,
    patient_id              uuid NOT NULL
                            REFERENCES public.users (id) ON DELETE CASCADE,
    assigned_doctor_id      uuid
                            REFERENCES public.users (id) ON DELETE SET NULL,
    gender                  text,
    blood_type              text,
    -- ADDED: source text of bloodType when it is not one of the eight types.
    blood_type_text         text,
    height_cm               numeric(5,2),
    -- ADDED: source text of height when it does not convert to centimetres ("tall").
    height_text             text,
    weight_kg               numeric(5,2),
    -- ADDED: source text of weight when it does not convert to kilograms.
    weight_text             text,
    insurance_provider      text,
    insurance_policy_number text,
    insurance_group_number  text,
    primary_physician       text,
    pharmacy_name           text,
    pharmacy_phone          text,
    preferred_language      text,
    smoking_status          text,
    alcohol_consumption     text,
    exercise_frequency      text,
    created_at              timestamptz,
    updated_at              timestamptz,
    CONSTRAINT patient_medical_info_patient_id_key UNIQUE (patient_id),
    CONSTRAINT patient_medical_info_gender_check
        CHECK (gender IN ('male', 'female', 'other', 'prefer-not-to-say')),
    CONSTRAINT patient_medical_info_blood_type_check
        CHECK (blood_type IN ('A+', 'A-', 'B+', 'B-', 'AB+', 'AB-', 'O+', 'O-')),
    CONSTRAINT patient_medical_info_smoking_status_check
        CHECK (smoking_status IN ('never', 'former', 'current')),
    CONSTRAINT patient_medical_info_alcohol_consumption_check
        CHECK (alcohol_consumption IN ('none', 'occasional', 'moderate', 'regular')),
    CONSTRAINT patient_medical_info_exercise_frequency_check
        CHECK (exercise_frequency IN ('none', '1-2', '3-4', '5+', 'daily'))
);
CREATE INDEX IF NOT EXISTS patient_medical_info_assigned_doctor_id_idx
    ON public.patient_medical_info (assigned_doctor_id);

-- ---------------------------------------------------------------------------
-- 3. allergies: one row per element of users.allergies (array of strings)
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.allergies (
    id             uuid    PRIMARY KEY,
    patient_id     uuid    NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    ordinal        integer NOT NULL,
    allergen       text,                       -- the mapping never writes NULL or ''
    allergen_type  text,                       -- no source: NULL, never invented
    reaction       text,
    severity       text,                       -- no source: NULL, never invented
    diagnosed_date date,
    notes          text,
    created_at     timestamptz,
    updated_at     timestamptz,
    CONSTRAINT allergies_patient_id_allergen_key UNIQUE (patient_id, allergen),
    CONSTRAINT allergies_ordinal_check CHECK (ordinal >= 0)
);

-- ---------------------------------------------------------------------------
-- 4. medications: one row per medication in users.currentMedications (any shape)
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.medications (
    id                    uuid    PRIMARY KEY,
    patient_id            uuid    NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    ordinal               integer NOT NULL,
    medication_name       text,
    dosage                text,
    frequency             text,
    route                 text,
    start_date            date,
    end_date              date,
    is_active             boolean,
    prescribing_doctor_id uuid REFERENCES public.users (id) ON DELETE SET NULL,
    notes                 text,
    created_at            timestamptz,
    updated_at            timestamptz,
    CONSTRAINT medications_ordinal_check CHECK (ordinal >= 0)
);
CREATE INDEX IF NOT EXISTS medications_patient_id_idx
    ON public.medications (patient_id);
CREATE INDEX IF NOT EXISTS medications_prescribing_doctor_id_idx
    ON public.medications (prescribing_doctor_id);

-- ---------------------------------------------------------------------------
-- 5. medical_history: elements of medicalHistory, chronicConditions, surgicalHistory,
--    familyHistory, immunizations (category says which)
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.medical_history (
    id              uuid    PRIMARY KEY,
    patient_id      uuid    NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    category        text    NOT NULL,          -- a const in each mapping entry
    ordinal         integer NOT NULL,          -- position within its own source array
    condition       text,                      -- condition / procedure / vaccine name
    relation        text,                      -- familyHistory only
    icd10_code      text,
    diagnosed_date  date,
    event_date_text text,                      -- source date text that did not parse
    resolved_date   date,
    is_active       boolean,
    notes           text,
    created_at      timestamptz,
    updated_at      timestamptz,
    CONSTRAINT medical_history_category_check
        CHECK (category IN ('condition', 'chronic', 'surgical', 'family', 'immunization')),
    CONSTRAINT medical_history_ordinal_check CHECK (ordinal >= 0)
);
CREATE INDEX IF NOT EXISTS medical_history_patient_id_category_idx
    ON public.medical_history (patient_id, category);

-- ---------------------------------------------------------------------------
-- 6. emergency_contacts: elements of emergencyContacts, or the legacy flat
--    emergencyContact / emergencyContactPhone pair (ordinal 0)
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.emergency_contacts (
    id           uuid    PRIMARY KEY,
    patient_id   uuid    NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    ordinal      integer NOT NULL,
    name         text,
    relationship text,
    phone        text,
    email        text,
    created_at   timestamptz,
    CONSTRAINT emergency_contacts_ordinal_check CHECK (ordinal >= 0)
);
CREATE INDEX IF NOT EXISTS emergency_contacts_patient_id_idx
    ON public.emergency_contacts (patient_id);

-- ---------------------------------------------------------------------------
-- 7. conversations: one row per conversations document (a visit)
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.conversations (
    id                    uuid PRIMARY KEY,
    patient_id            uuid NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    doctor_id             uuid REFERENCES public.users (id) ON DELETE SET NULL,
    visit_number          integer,             -- duplicates per patient occur: no unique key
    status                text,
    ai_summary            text,
    diagnosis             text,                -- doctorResponse.diagnosis
    recommendations       text,                -- doctorResponse.recommendations
    referrals             text,                -- doctorResponse.referrals
    call_to_office        boolean,             -- doctorResponse.callToOffice
    doctor_notes          text,                -- doctorResponse.notes
    responded_at          timestamptz,         -- doctorResponse.respondedAt
    patient_notified      boolean,
    archived_by_patient   boolean,
    archived_by_doctor    boolean,
    conversation_ended_at timestamptz,
    created_at            timestamptz,
    updated_at            timestamptz,
    CONSTRAINT conversations_status_check
        CHECK (status IN ('in_progress', 'awaiting_doctor', 'doctor_responded', 'closed'))
);
CREATE INDEX IF NOT EXISTS conversations_patient_id_created_at_idx
    ON public.conversations (patient_id, created_at DESC);
CREATE INDEX IF NOT EXISTS conversations_doctor_id_status_idx
    ON public.conversations (doctor_id, status);

-- ---------------------------------------------------------------------------
-- 8. messages: one row per element of conversations.messages
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.messages (
    id              uuid    PRIMARY KEY,
    conversation_id uuid    NOT NULL REFERENCES public.conversations (id) ON DELETE CASCADE,
    ordinal         integer NOT NULL,          -- order of the source array: the chat order
    role            text,
    content         text,
    created_at      timestamptz,               -- the message's timestamp
    CONSTRAINT messages_role_check CHECK (role IN ('user', 'assistant', 'system')),
    CONSTRAINT messages_ordinal_check CHECK (ordinal >= 0)
);
CREATE INDEX IF NOT EXISTS messages_conversation_id_created_at_idx
    ON public.messages (conversation_id, created_at);
-- Reading a conversation in source order (timestamps can be missing or equal).
CREATE INDEX IF NOT EXISTS messages_conversation_id_ordinal_idx
    ON public.messages (conversation_id, ordinal);

-- ---------------------------------------------------------------------------
-- 9. symptoms: one row per element of conversations.symptoms
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.symptoms (
    id              uuid    PRIMARY KEY,
    conversation_id uuid    NOT NULL REFERENCES public.conversations (id) ON DELETE CASCADE,
    ordinal         integer NOT NULL,
    symptom         text,
    location        text,
    severity        text,                      -- free text in the source ("Severe", "7/10")
    duration        text,
    notes           text,
    created_at      timestamptz,
    CONSTRAINT symptoms_ordinal_check CHECK (ordinal >= 0)
);
CREATE INDEX IF NOT EXISTS symptoms_conversation_id_idx
    ON public.symptoms (conversation_id);

-- ---------------------------------------------------------------------------
-- 10. attachments: one row per element of conversations.attachments
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.attachments (
    id              uuid    PRIMARY KEY,
    conversation_id uuid    NOT NULL REFERENCES public.conversations (id) ON DELETE CASCADE,
    ordinal         integer NOT NULL,
    filename        text,
    original_name   text,
    file_path       text,
    file_type       text,
    file_size_bytes bigint,
    mime_type       text,
    is_encrypted    boolean,
    checksum        text,
    uploaded_by     uuid REFERENCES public.users (id) ON DELETE SET NULL,
    uploaded_at     timestamptz,
    CONSTRAINT attachments_ordinal_check CHECK (ordinal >= 0),
    CONSTRAINT attachments_file_size_bytes_check CHECK (file_size_bytes >= 0)
);
CREATE INDEX IF NOT EXISTS attachments_conversation_id_idx
    ON public.attachments (conversation_id);
CREATE INDEX IF NOT EXISTS attachments_uploaded_by_idx
    ON public.attachments (uploaded_by);

-- ---------------------------------------------------------------------------
-- 11. prescriptions: one row per element of conversations.doctorResponse.prescriptions
--     patient_id / doctor_id come from the conversation document.  The spec names
--     the FKs without actions; chosen: patient CASCADE (like the conversation they
--     hang under), doctor SET NULL (like conversations.doctor_id).  doctor_id is
--     nullable: a prescription whose conversation has no doctor is kept.
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.prescriptions (
    id              uuid    PRIMARY KEY,
    conversation_id uuid    NOT NULL REFERENCES public.conversations (id) ON DELETE CASCADE,
    patient_id      uuid    NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    doctor_id       uuid    REFERENCES public.users (id) ON DELETE SET NULL,
    ordinal         integer NOT NULL,
    medication_name text,
    dosage          text,
    frequency       text,
    duration        text,
    quantity        integer,
    refills         integer,
    status          text,
    filled_date     date,
    expiration_date date,
    pharmacy_name   text,
    pharmacy_phone  text,
    instructions    text,
    warnings        text,
    created_at      timestamptz,
    updated_at      timestamptz,
    CONSTRAINT prescriptions_ordinal_check CHECK (ordinal >= 0)
);
CREATE INDEX IF NOT EXISTS prescriptions_conversation_id_idx
    ON public.prescriptions (conversation_id);
CREATE INDEX IF NOT EXISTS prescriptions_patient_id_idx
    ON public.prescriptions (patient_id);
CREATE INDEX IF NOT EXISTS prescriptions_doctor_id_idx
    ON public.prescriptions (doctor_id);

-- ---------------------------------------------------------------------------
-- 12. activity_logs: one row per activity_logs document (the largest table)
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.activity_logs (
    id               uuid PRIMARY KEY,
    user_id          uuid REFERENCES public.users (id) ON DELETE SET NULL,
    user_role        text,
    user_email       text,                     -- as recorded at the time, not normalized
    action           text,
    resource_type    text,                     -- no CHECK: new resource kinds are kept as is
    resource_id      uuid,                     -- no FK: it may name any collection
    -- ADDED: resourceId when it is not an ObjectId/UUID (the uuid column gets NULL).
    resource_id_text text,
    method           text,
    endpoint         text,
    ip_address       inet,                     -- NULL when missing or junk, never 0.0.0.0
    -- ADDED: source text of ipAddress when it is not an address (an audit trail keeps it).
    ip_address_text  text,
    user_agent       text,
    status           text,
    status_code      integer,
    description      text,
    metadata         jsonb,                    -- the Mixed sub-document, whole
    error_message    text,
    error_stack      text,
    error_code       text,                     -- numeric or string codes, as text
    duration_ms      numeric,                  -- Int32 or Double in the source
    severity         text,
    created_at       timestamptz,
    -- ADDED: the source's updatedAt (Mongoose timestamps); the spec's list has none.
    updated_at       timestamptz,
    CONSTRAINT activity_logs_user_role_check
        CHECK (user_role IN ('patient', 'doctor', 'admin', 'system', 'anonymous')),
    CONSTRAINT activity_logs_status_check
        CHECK (status IN ('success', 'failure', 'error', 'warning')),
    CONSTRAINT activity_logs_severity_check
        CHECK (severity IN ('info', 'warning', 'error', 'critical'))
);
CREATE INDEX IF NOT EXISTS activity_logs_user_id_created_at_idx
    ON public.activity_logs (user_id, created_at DESC);
CREATE INDEX IF NOT EXISTS activity_logs_action_created_at_idx
    ON public.activity_logs (action, created_at DESC);
CREATE INDEX IF NOT EXISTS activity_logs_created_at_idx
    ON public.activity_logs (created_at DESC);
CREATE INDEX IF NOT EXISTS activity_logs_metadata_gin_idx
    ON public.activity_logs USING gin (metadata);

-- ---------------------------------------------------------------------------
-- 13. sessions: no MongoDB source (written by the new application)
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.sessions (
    id                 uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id            uuid        NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    token_hash         text        NOT NULL,
    refresh_token_hash text,
    device_info        text,
    ip_address         inet,
    user_agent         text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    expires_at         timestamptz NOT NULL,
    last_activity_at   timestamptz,
    is_active          boolean     NOT NULL DEFAULT true,
    revoked_at         timestamptz
);
CREATE INDEX IF NOT EXISTS sessions_user_id_idx ON public.sessions (user_id);
CREATE UNIQUE INDEX IF NOT EXISTS sessions_token_hash_key ON public.sessions (token_hash);

-- ---------------------------------------------------------------------------
-- 14. mfa_tokens: no MongoDB source (written by the new application)
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.mfa_tokens (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid        NOT NULL REFERENCES public.users (id) ON DELETE CASCADE,
    secret       text        NOT NULL,
    is_enabled   boolean     NOT NULL DEFAULT false,
    backup_codes text[],
    enabled_at   timestamptz,
    last_used_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT mfa_tokens_user_id_key UNIQUE (user_id)
);

-- ---------------------------------------------------------------------------
-- updated_at triggers: every table with an updated_at column.  WHEN skips no-op
-- updates (a re-run that rewrites identical rows) without calling the function.
-- CREATE OR REPLACE TRIGGER needs PostgreSQL 14+.
-- ---------------------------------------------------------------------------
CREATE OR REPLACE TRIGGER users_set_updated_at
    BEFORE UPDATE ON public.users
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION public.mn_set_updated_at();
CREATE OR REPLACE TRIGGER patient_medical_info_set_updated_at
    BEFORE UPDATE ON public.patient_medical_info
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION public.mn_set_updated_at();
CREATE OR REPLACE TRIGGER allergies_set_updated_at
    BEFORE UPDATE ON public.allergies
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION public.mn_set_updated_at();
CREATE OR REPLACE TRIGGER medications_set_updated_at
    BEFORE UPDATE ON public.medications
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION public.mn_set_updated_at();
CREATE OR REPLACE TRIGGER medical_history_set_updated_at
    BEFORE UPDATE ON public.medical_history
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION public.mn_set_updated_at();
CREATE OR REPLACE TRIGGER conversations_set_updated_at
    BEFORE UPDATE ON public.conversations
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION public.mn_set_updated_at();
CREATE OR REPLACE TRIGGER prescriptions_set_updated_at
    BEFORE UPDATE ON public.prescriptions
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION public.mn_set_updated_at();
CREATE OR REPLACE TRIGGER activity_logs_set_updated_at
    BEFORE UPDATE ON public.activity_logs
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION public.mn_set_updated_at();

-- ---------------------------------------------------------------------------
-- This file's own version, in the same transaction as everything above
-- ---------------------------------------------------------------------------
INSERT INTO public.schema_migrations (version, description)
    VALUES (1, 'MediChat target schema (15 tables)')
    ON CONFLICT (version) DO NOTHING;
