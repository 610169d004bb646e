// @generated automatically by Diesel CLI.

diesel::table! {
    login_failures (id) {
        id -> Int8,
        ip_key -> Inet,
        account_key -> Text,
        at -> Timestamptz,
    }
}

diesel::table! {
    sessions (id) {
        id -> Int8,
        key_hash -> Bytea,
        user_id -> Nullable<Int8>,
        state -> Jsonb,
        ip -> Nullable<Inet>,
        user_agent -> Nullable<Text>,
        created_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Int8,
        username -> Text,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        tier -> Text,
        credits -> Int8,
        disabled -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(sessions -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(login_failures, sessions, users,);
