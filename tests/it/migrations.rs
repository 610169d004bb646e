//! Every migration's down.sql undoes its up.sql.

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
    let url = crate::helpers::empty_database();
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
