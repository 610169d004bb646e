// @generated automatically by Diesel CLI.

diesel::table! {
    admin_audit (id) {
        id -> Int8,
        actor_id -> Nullable<Int8>,
        actor_name -> Text,
        action -> Text,
        target -> Text,
        detail -> Text,
        ip -> Nullable<Inet>,
        at -> Timestamptz,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Int8,
        user_id -> Int8,
        name -> Text,
        token_hash -> Bytea,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
        scope -> Text,
        last_used_ip -> Nullable<Inet>,
    }
}

diesel::table! {
    camera_details (image_id) {
        image_id -> Int8,
        make -> Nullable<Text>,
        model -> Nullable<Text>,
        taken_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    credit_ledger (id) {
        id -> Int8,
        user_id -> Nullable<Int8>,
        delta -> Int8,
        balance_after -> Int8,
        reason -> Text,
        job_id -> Nullable<Int8>,
        actor_id -> Nullable<Int8>,
        note -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    disposable_domains (domain) {
        domain -> Text,
        added_by -> Nullable<Int8>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    folders (id) {
        id -> Int8,
        user_id -> Int8,
        slug -> Text,
        name -> Text,
        created_at -> Timestamptz,
        image_count -> Int8,
        disk_bytes -> Int8,
    }
}

diesel::table! {
    free_image_allowances (ip_key) {
        ip_key -> Inet,
        used -> Int4,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    generation_jobs (id) {
        id -> Int8,
        user_id -> Nullable<Int8>,
        owner_key -> Text,
        kind -> Text,
        prompt -> Text,
        params -> Jsonb,
        status -> Text,
        error -> Nullable<Text>,
        attempts -> Int4,
        lease_until -> Nullable<Timestamptz>,
        image_ids -> Array<Int8>,
        created_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
        anon_id -> Nullable<Text>,
        progress -> Float4,
        eta_secs -> Nullable<Int4>,
    }
}

diesel::table! {
    email_verifications (token_hash) {
        token_hash -> Bytea,
        user_id -> Int8,
        email -> Text,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    favourites (image_id) {
        image_id -> Int8,
        user_id -> Int8,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    image_origins (image_id) {
        image_id -> Int8,
        user_id -> Int8,
        client_ip -> Inet,
        upload -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    images (id) {
        id -> Int8,
        user_id -> Int8,
        folder_id -> Int8,
        kind -> Text,
        stem -> Text,
        original_ext -> Text,
        thumb_ext -> Text,
        pristine_ext -> Text,
        mime -> Text,
        width -> Int4,
        height -> Int4,
        bytes -> Int8,
        disk_bytes -> Int8,
        title -> Text,
        tags -> Array<Text>,
        share_nonce -> Nullable<Bytea>,
        share_token_hash -> Nullable<Bytea>,
        shared_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        prompt -> Nullable<Text>,
        model -> Nullable<Text>,
        provider -> Nullable<Text>,
        seed -> Nullable<Int8>,
        job_id -> Nullable<Int8>,
        source_image_id -> Nullable<Int8>,
        credits_used -> Int4,
        free -> Bool,
        duration_ms -> Nullable<Int4>,
        share_public -> Bool,
        share_expires_at -> Nullable<Timestamptz>,
        display_ext -> Nullable<Text>,
        trashed_at -> Nullable<Timestamptz>,
        starred -> Bool,
        suggestions_waiting -> Int4,
    }
}

diesel::table! {
    invites (id) {
        id -> Int8,
        token_hash -> Bytea,
        email -> Nullable<Text>,
        created_by -> Nullable<Int8>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        used_by -> Nullable<Int8>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    ip_activity_accounts (net, user_id) {
        net -> Cidr,
        user_id -> Int8,
        uses -> Int8,
    }
}

diesel::table! {
    ip_activity_days (net, day) {
        net -> Cidr,
        day -> Date,
        level -> Int2,
        generations -> Int4,
        uploads -> Int4,
        anonymous -> Int4,
        first_at -> Timestamptz,
        last_at -> Timestamptz,
    }
}

diesel::table! {
    ip_activity_months (net, month) {
        net -> Cidr,
        month -> Date,
        level -> Int2,
        generations -> Int4,
        uploads -> Int4,
        anonymous -> Int4,
        first_at -> Timestamptz,
        last_at -> Timestamptz,
    }
}

diesel::table! {
    ip_activity_totals (net) {
        net -> Cidr,
        level -> Int2,
        generations -> Int8,
        uploads -> Int8,
        anonymous -> Int8,
        first_at -> Timestamptz,
        last_at -> Timestamptz,
        activity -> Nullable<Int8>,
        accounts -> Int8,
    }
}

diesel::table! {
    ip_blocks (id) {
        id -> Int8,
        network -> Cidr,
        reason -> Text,
        expires_at -> Nullable<Timestamptz>,
        created_by -> Nullable<Int8>,
        created_at -> Timestamptz,
        lifted_at -> Nullable<Timestamptz>,
        lifted_by -> Nullable<Int8>,
    }
}

diesel::table! {
    job_origins (job_id) {
        job_id -> Int8,
        user_id -> Nullable<Int8>,
        client_ip -> Inet,
        anonymous -> Bool,
        tagging -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    library_tags (user_id, tag) {
        user_id -> Int8,
        tag -> Text,
        images -> Int8,
    }
}

diesel::table! {
    library_versions (user_id) {
        user_id -> Int8,
        version -> Int8,
    }
}

diesel::table! {
    limit_overrides (id) {
        id -> Int8,
        network -> Cidr,
        anon_generate -> Nullable<Int4>,
        anon_story -> Nullable<Int4>,
        free_images -> Nullable<Int4>,
        reason -> Text,
        expires_at -> Nullable<Timestamptz>,
        created_by -> Nullable<Int8>,
        created_at -> Timestamptz,
        anon_video -> Nullable<Int4>,
    }
}

diesel::table! {
    login_failures (id) {
        id -> Int8,
        ip_key -> Inet,
        account_key -> Text,
        at -> Timestamptz,
    }
}

diesel::table! {
    mail_outbox (id) {
        id -> Int8,
        to_address -> Text,
        subject -> Text,
        text_body -> Text,
        html_body -> Text,
        kind -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    password_resets (token_hash) {
        token_hash -> Bytea,
        user_id -> Int8,
        created_by -> Nullable<Int8>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    recovery_codes (id) {
        id -> Int8,
        user_id -> Int8,
        code_hash -> Bytea,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    search_words (word) {
        word -> Text,
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
    usage_events (id) {
        id -> Int8,
        ip_key -> Nullable<Inet>,
        action -> Text,
        client_ip -> Nullable<Inet>,
        at -> Timestamptz,
    }
}

diesel::table! {
    tag_suggestions (image_id, tag) {
        image_id -> Int8,
        tag -> Text,
        confidence -> Float4,
        source -> Text,
        created_at -> Timestamptz,
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
        remote_tagging -> Bool,
        tag_language -> Text,
        password_reset_notice -> Bool,
        email_verified_at -> Nullable<Timestamptz>,
        totp_secret -> Nullable<Text>,
        totp_enabled_at -> Nullable<Timestamptz>,
        totp_last_step -> Nullable<Int8>,
    }
}

diesel::joinable!(folders -> users (user_id));
diesel::joinable!(generation_jobs -> users (user_id));
diesel::joinable!(image_origins -> images (image_id));
diesel::joinable!(job_origins -> generation_jobs (job_id));
diesel::joinable!(images -> generation_jobs (job_id));
diesel::joinable!(images -> folders (folder_id));
diesel::joinable!(images -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(email_verifications -> users (user_id));
diesel::joinable!(recovery_codes -> users (user_id));

diesel::joinable!(credit_ledger -> generation_jobs (job_id));

diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(favourites -> images (image_id));
diesel::joinable!(camera_details -> images (image_id));
diesel::joinable!(tag_suggestions -> images (image_id));

diesel::allow_tables_to_appear_in_same_query!(
    admin_audit,
    api_tokens,
    camera_details,
    credit_ledger,
    disposable_domains,
    email_verifications,
    favourites,
    folders,
    free_image_allowances,
    generation_jobs,
    image_origins,
    images,
    invites,
    ip_activity_accounts,
    ip_activity_days,
    ip_activity_months,
    ip_activity_totals,
    ip_blocks,
    job_origins,
    library_tags,
    library_versions,
    limit_overrides,
    login_failures,
    mail_outbox,
    password_resets,
    recovery_codes,
    search_words,
    sessions,
    tag_suggestions,
    usage_events,
    users,
);
