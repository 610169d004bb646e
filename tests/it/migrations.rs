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

#[derive(QueryableByName, Debug, PartialEq, Eq)]
struct Line {
    #[diesel(sql_type = diesel::sql_types::Text)]
    line: String,
}

fn lines(conn: &mut PgConnection, sql: &str) -> Vec<String> {
    let rows: Vec<Line> = diesel::sql_query(sql).load(conn).expect(sql);
    rows.into_iter().map(|row| row.line).collect()
}

/// What the IP gallery counts, every rollup table as sorted lines.
fn rollups(conn: &mut PgConnection) -> Vec<String> {
    lines(
        conn,
        "SELECT line FROM (
           SELECT 'total ' || net || ' ' || generations || ' ' || uploads || ' ' || anonymous
                  || ' ' || accounts || ' ' || first_at || ' ' || last_at AS line
                  FROM ip_activity_totals
           UNION ALL SELECT 'day ' || net || ' ' || day || ' ' || generations FROM ip_activity_days
           UNION ALL SELECT 'month ' || net || ' ' || month || ' ' || generations
                     FROM ip_activity_months
           UNION ALL SELECT 'account ' || net || ' ' || user_id || ' ' || uses
                     FROM ip_activity_accounts) all_rows ORDER BY line",
    )
}

/// Moving jobs' addresses into `job_origins` (000030) keeps every address, what each job
/// was (anonymous, a tag suggestion) and every count the IP gallery shows; its down.sql
/// puts the addresses back on the jobs, with the same counts.
#[test]
fn job_addresses_move_to_their_own_table_and_back_with_their_counts() {
    let url = crate::support::helpers::empty_database();
    let mut conn = PgConnection::establish(&url).expect("connect");
    let names: Vec<String> = MigrationSource::<Pg>::migrations(&MIGRATIONS)
        .expect("migrations")
        .iter()
        .map(|migration| migration.name().to_string())
        .collect();
    let before = names
        .iter()
        .position(|name| name.ends_with("_job_origins"))
        .expect("the job_origins migration");
    for _ in 0..before {
        conn.run_next_migration(MIGRATIONS).expect("up");
    }
    diesel::sql_query(
        "WITH alice AS (
           INSERT INTO users (username, email, password_hash) VALUES ('alice', 'a@example.com', 'x')
           RETURNING id)
         INSERT INTO generation_jobs (user_id, owner_key, kind, prompt, params, status, client_ip,
                                      created_at, anon_id)
         SELECT CASE WHEN n % 3 = 0 THEN NULL ELSE (SELECT id FROM alice) END,
                'o', CASE WHEN n % 4 = 0 THEN 'tag' ELSE 'image' END, 'p', '{}', 'succeeded',
                CASE WHEN n % 5 = 0 THEN NULL
                     ELSE ('192.0.2.' || n % 3)::inet END,
                timestamptz '2026-11-01 12:00Z' + make_interval(days => n % 40),
                CASE WHEN n % 3 = 0 THEN 'anon' || n END
         FROM generate_series(1, 60) AS n",
    )
    .execute(&mut conn)
    .expect("jobs");
    let addresses = "SELECT j.id || ' ' || host(j.client_ip) || ' ' || (j.anon_id IS NOT NULL)
                            || ' ' || (j.kind = 'tag') || ' ' || coalesce(j.user_id::text, '-')
                            || ' ' || j.created_at AS line
                     FROM generation_jobs j WHERE j.client_ip IS NOT NULL ORDER BY j.id";
    let kept = lines(&mut conn, addresses);
    let counted = rollups(&mut conn);
    assert_eq!(kept.len(), 48, "{kept:?}");
    assert!(
        counted
            .iter()
            .any(|line| line.starts_with("total 192.0.2.0/24 "))
    );

    conn.run_next_migration(MIGRATIONS).expect("000030 up");
    assert_eq!(
        lines(
            &mut conn,
            "SELECT job_id || ' ' || host(client_ip) || ' ' || anonymous || ' ' || tagging
                    || ' ' || coalesce(user_id::text, '-') || ' ' || created_at AS line
             FROM job_origins ORDER BY job_id",
        ),
        kept,
        "every address, with what its job was"
    );
    assert_eq!(rollups(&mut conn), counted, "the counts are untouched");

    conn.revert_last_migration(MIGRATIONS).expect("000030 down");
    assert_eq!(lines(&mut conn, addresses), kept, "the addresses are back");
    assert_eq!(rollups(&mut conn), counted);
}
