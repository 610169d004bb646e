//! Every migration's down.sql undoes its up.sql, and `src/db/schema.rs` matches what the
//! migrations make.

use atelier::db::MIGRATIONS;
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use diesel_migrations::MigrationHarness;

#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Column {
    #[diesel(sql_type = diesel::sql_types::Text)]
    description: String,
}

/// Tables, columns, indexes, constraints, triggers and functions of the public schema, as
/// comparable text.
fn schema(conn: &mut PgConnection) -> Vec<String> {
    let mut rows: Vec<Column> = diesel::sql_query(
        "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable \
             || ' ' || coalesce(column_default, '') AS description \
         FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations' \
         UNION ALL \
         SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' \
             AND tablename <> '__diesel_schema_migrations' \
         UNION ALL \
         SELECT conrelid::regclass::text || ' ' || pg_get_constraintdef(oid) FROM pg_constraint \
         WHERE connamespace = 'public'::regnamespace \
             AND conrelid::regclass::text <> '__diesel_schema_migrations' \
         UNION ALL \
         SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal \
         UNION ALL \
         SELECT 'function ' || proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace",
    )
    .load(conn)
    .expect("schema query");
    rows.sort();
    rows.into_iter().map(|c| c.description).collect()
}

#[test]
fn each_down_reverses_its_up() {
    let url = crate::support::helpers::empty_database();
    let mut conn = PgConnection::establish(&url).expect("connect");
    let count = MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .expect("migrations")
        .len();
    assert!(count > 0);
    let empty = schema(&mut conn);
    let mut before = empty.clone();
    for step in 0..count {
        conn.run_next_migration(MIGRATIONS).expect("up");
        let after_up = schema(&mut conn);
        assert_ne!(after_up, before, "migration {step} changes the schema");
        conn.revert_last_migration(MIGRATIONS).expect("down");
        assert_eq!(
            schema(&mut conn),
            before,
            "migration {step}: down.sql undoes up.sql"
        );
        conn.run_next_migration(MIGRATIONS).expect("up again");
        assert_eq!(
            schema(&mut conn),
            after_up,
            "migration {step} re-applies cleanly"
        );
        before = after_up;
    }
    conn.revert_all_migrations(MIGRATIONS).expect("all down");
    assert_eq!(schema(&mut conn), empty);
}

#[derive(QueryableByName, Debug)]
struct TableColumn {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    udt_name: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    nullable: bool,
}

/// The Diesel type `diesel print-schema` writes for a PostgreSQL column type.
fn diesel_type(udt: &str) -> String {
    let base = |name: &str| match name {
        "int2" => "Int2",
        "int4" => "Int4",
        "int8" => "Int8",
        "float4" => "Float4",
        "float8" => "Float8",
        "text" | "varchar" => "Text",
        "bool" => "Bool",
        "timestamptz" => "Timestamptz",
        "timestamp" => "Timestamp",
        "date" => "Date",
        "inet" => "Inet",
        "cidr" => "Cidr",
        "jsonb" => "Jsonb",
        "bytea" => "Bytea",
        other => panic!("no Diesel type known for {other}"),
    };
    match udt.strip_prefix('_') {
        Some(element) => format!("Array<{}>", base(element)),
        None => base(udt).to_owned(),
    }
}

/// `schema.rs` is what `diesel print-schema` makes of the migrated database: the same
/// tables, with the same columns in the same order and of the same types.
#[test]
fn schema_rs_matches_the_migrated_database() {
    let url = crate::support::helpers::fresh_database();
    let mut conn = PgConnection::establish(&url).expect("connect");
    let columns: Vec<TableColumn> = diesel::sql_query(
        "SELECT table_name::text, column_name::text, udt_name::text, \
                is_nullable = 'YES' AS nullable \
         FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations' \
         ORDER BY table_name, ordinal_position",
    )
    .load(&mut conn)
    .expect("columns");
    let mut expected = String::new();
    let mut table = "";
    for column in &columns {
        // Search vectors are generated columns only SQL reads (`images.search`); Diesel has
        // no type for them, and schema.rs leaves them out.
        if column.udt_name == "tsvector" {
            continue;
        }
        if column.table_name != table {
            table = &column.table_name;
            expected.push_str(&format!("table {table}\n"));
        }
        let mut kind = diesel_type(&column.udt_name);
        if column.nullable {
            kind = format!("Nullable<{kind}>");
        }
        expected.push_str(&format!("  {} -> {kind}\n", column.column_name));
    }
    // The same shape read from schema.rs.
    let schema_rs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/db/schema.rs"))
            .expect("schema.rs");
    let mut tables: Vec<(String, Vec<String>)> = Vec::new();
    let mut inside = false;
    for line in schema_rs.lines() {
        let line = line.trim();
        if let Some(head) = line.strip_suffix('{').map(str::trim) {
            if let Some((name, _)) = head.split_once(" (") {
                tables.push((name.to_owned(), Vec::new()));
                inside = true;
            }
        } else if line == "}" {
            inside = false;
        } else if let Some((column, kind)) = line.trim_end_matches(',').split_once(" -> ") {
            if let (true, Some((_, columns))) = (inside, tables.last_mut()) {
                columns.push(format!("  {} -> {kind}\n", column.trim()));
            }
        }
    }
    tables.sort_by(|a, b| a.0.cmp(&b.0));
    let found: String = tables
        .iter()
        .map(|(name, columns)| format!("table {name}\n{}", columns.concat()))
        .collect();
    assert_eq!(
        found, expected,
        "src/db/schema.rs differs from the migrations: regenerate it with `diesel print-schema`"
    );
}
