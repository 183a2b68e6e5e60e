/*
 * tables.c - the compiled mapping's table list, for the sink and the run: each table's
 * columns, which of them holds the document id, and the collection that feeds it.
 */
#include "mapping/plan.h"

#include <mongonorm/mapping.h>

const char *
mn_mapping_table_column(const mn_mapping_t *m, size_t table, size_t column)
{
   return m->tables[table].columns[column];
}

size_t
mn_mapping_table_n_columns(const mn_mapping_t *m, size_t table)
{
   return m->tables[table].n_columns;
}

size_t
mn_mapping_table_doc_column(const mn_mapping_t *m, size_t table)
{
   return m->tables[table].doc_id_column < 0 ? 0 : (size_t)m->tables[table].doc_id_column;
}

bool
mn_mapping_table_is_primary(const mn_mapping_t *m, size_t table)
{
   return m->tables[table].is_primary;
}

size_t
mn_mapping_table_collection(const mn_mapping_t *m, size_t table)
{
   return (size_t)m->tables[table].collection;
}
