//! Generation through the queue: the HTML and JSON flows, validation, ownership, and the
//! queue's guarantees (exactly once across instances, lease recovery, fairness).

use std::time::Duration;

use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};

use crate::support::helpers::{
    TestApp, eventually, location, new_client, poll, spawn_app, spawn_app_with,
    spawn_second_instance, spawn_second_instance_with,
};

async fn job_status(app: &TestApp, client: &reqwest::Client, id: i64) -> serde_json::Value {
    app.json(client, &format!("/api/jobs/{id}")).await
}

#[tokio::test]
async fn the_spec_api_call_generates_and_stores_an_image() {
    let app = spawn_app().await;
    let client = app.user("painter").await;
    let response = client
        .post(app.url("/api/generate-image"))
        .header("content-type", "application/json")
        .body(r#"{"prompt":"a red fox at dawn"}"#)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 200);
    let json: serde_json::Value = response.json().await.expect("json");
    assert_eq!(json["success"], true);
    assert_eq!(json["message"], "Image generated successfully");
    let id = json["db_id"].as_i64().expect("db_id");
    let url = json["image_url"].as_str().expect("image_url");
    let image = app.get(&client, url).await;
    assert_eq!(image.status(), 200);
    assert_eq!(image.headers()["content-type"], "image/png");
    let decoded = image::load_from_memory(&image.bytes().await.expect("bytes")).expect("png");
    assert_eq!((decoded.width(), decoded.height()), (512, 512));
    assert!(
        json["file_path"]
            .as_str()
            .expect("path")
            .starts_with("uploads/painter/default/original/")
    );

    let listed = app.api_images(&client).await;
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["prompt"], "a red fox at dawn");
    assert_eq!(listed[0]["kind"], "generated");
    assert_eq!(listed[0]["provider"], "builtin");
    let page = app
        .get(&client, &format!("/images/{id}"))
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("a red fox at dawn") && page.contains("atelier-landscape-1"));
}

#[tokio::test]
async fn several_images_sizes_and_the_no_wait_mode() {
    let app = spawn_app().await;
    let client = app.user("batcher").await;
    let (_, json) = client.generate(serde_json::json!({ "prompt": "stars over a snowy forest", "count": 3, "size": "768x512" })).await;
    assert_eq!(json["images"].as_array().expect("images").len(), 3);
    assert_eq!(app.api_images(&client).await[0]["width"], 768);

    let response = client.order_one().await;
    assert_eq!(response.status(), 202);
    let job_id = response.json::<serde_json::Value>().await.expect("json")["job_id"]
        .as_i64()
        .expect("job id");
    eventually("the job finishes", || async {
        job_status(&app, &client, job_id).await["job"]["status"] == "succeeded"
    })
    .await;
    let job = job_status(&app, &client, job_id).await;
    assert_eq!(job["job"]["images"].as_array().expect("images").len(), 1);
}

#[tokio::test]
async fn the_form_redirects_to_a_job_page_that_shows_the_result() {
    let app = spawn_app().await;
    let client = app.user("former").await;
    let response = app
        .post_form(
            &client,
            "/generate",
            &[("prompt", "a violet desert at dusk"), ("count", "2")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let job_url = location(&response).to_owned();
    assert!(job_url.starts_with("/jobs/"));
    eventually("the job page shows the result", || async {
        let page = app.get(&client, &job_url).await.text().await.expect("page");
        page.contains("<h1>Done</h1>") && page.matches("class=\"tile\"").count() == 2
    })
    .await;
    // While running the page refreshes itself; once done it does not.
    let page = app.get(&client, &job_url).await.text().await.expect("page");
    assert!(!page.contains("http-equiv=\"refresh\""));
}

#[tokio::test]
async fn bad_requests_are_refused_and_queue_nothing() {
    let app = spawn_app().await;
    let client = app.user("picky").await;
    for body in [
        serde_json::json!({ "prompt": "" }),
        serde_json::json!({ "prompt": "x", "count": 5 }),
        serde_json::json!({ "prompt": "x", "count": "many" }),
        serde_json::json!({ "prompt": "x", "size": "4096x4096" }),
        serde_json::json!({ "prompt": "x".repeat(1001) }),
    ] {
        let (status, json) = client.generate(body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(json["success"], false);
    }
    let response = client
        .post(app.url("/api/generate-image"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 400);
    let response = app
        .post_form(&client, "/generate", &[("prompt", " "), ("count", "2")])
        .await;
    assert_eq!(response.status(), 400);
    assert!(
        response
            .text()
            .await
            .expect("page")
            .contains("prompt is empty")
    );
    let jobs = app.count_jobs();
    assert_eq!(jobs, 0);
    // Anonymous API callers get the same JSON errors, and nothing is counted.
    let (status, body) = app
        .visitor()
        .generate(serde_json::json!({ "prompt": " " }))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["success"], false);
    let jobs = app.count_jobs();
    assert_eq!(jobs, 0);
}

#[tokio::test]
async fn other_users_cannot_see_a_job_or_its_images() {
    let app = spawn_app().await;
    let owner = app.user("owner").await;
    let (_, json) = owner
        .generate(serde_json::json!({ "prompt": "private sunrise" }))
        .await;
    let job_id = json["job_id"].as_i64().expect("job");
    let stranger = app.user("stranger").await;
    assert_eq!(
        app.get(&stranger, &format!("/jobs/{job_id}"))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get(&stranger, &format!("/api/jobs/{job_id}"))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get(&stranger, json["image_url"].as_str().expect("url"))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get(&stranger, &format!("/images/{}", json["db_id"]))
            .await
            .status(),
        404
    );
}

/// Queues jobs straight into the table (as many instances' users would).
fn queue_jobs(app: &TestApp, user_id: i64, count: usize) {
    use atelier::db::models::job::{NewJob, enqueue};
    let mut conn = app.conn();
    for i in 0..count {
        enqueue(
            &mut conn,
            &NewJob {
                id: None,
                user_id: Some(user_id),
                owner_key: &format!("user:{user_id}"),
                kind: atelier::domain::JobKind::Image,
                prompt: &format!("job number {i}"),
                params: serde_json::json!({ "count": 1, "width": 512, "height": 512, "seed": i }),
                client_ip: None,
                anon_id: None,
            },
        )
        .expect("enqueue");
    }
}

fn id_of_user(app: &TestApp, name: &str) -> i64 {
    use atelier::db::schema::users;
    users::table
        .filter(users::username.eq(name))
        .select(users::id)
        .first(&mut app.conn())
        .expect("user")
}

#[tokio::test]
async fn two_instances_run_each_of_fifty_jobs_exactly_once() {
    let app = spawn_app_with(|s| {
        s.insert("generation_workers".into(), "3".into());
    })
    .await;
    let _second = spawn_second_instance(&app).await;
    app.register(
        &new_client(),
        "bulk",
        "bulk@example.com",
        crate::support::helpers::PASSWORD,
    )
    .await;
    let owner = id_of_user(&app, "bulk");
    queue_jobs(&app, owner, 50);
    use atelier::db::schema::generation_jobs as jobs;
    poll(
        Duration::from_secs(60),
        || async {
            jobs::table
                .filter(jobs::status.eq("succeeded"))
                .count()
                .get_result::<i64>(&mut app.conn())
                .expect("count")
        },
        |done| *done == 50,
    )
    .await;
    let rows: Vec<(String, i32, Vec<i64>)> = jobs::table
        .select((jobs::status, jobs::attempts, jobs::image_ids))
        .load(&mut app.conn())
        .expect("jobs");
    assert_eq!(rows.len(), 50);
    assert!(
        rows.iter()
            .all(|(s, a, ids)| s == "succeeded" && *a == 1 && ids.len() == 1),
        "{rows:?}"
    );
    assert_eq!(app.count_images(), 50, "one image per job, none twice");
}

#[tokio::test]
async fn an_interrupted_job_is_retried_once_then_failed() {
    let app = spawn_app_with(|s| {
        s.insert("generation_workers".into(), "0".into());
    })
    .await;
    app.register(
        &new_client(),
        "crashy",
        "crashy@example.com",
        crate::support::helpers::PASSWORD,
    )
    .await;
    let owner = id_of_user(&app, "crashy");
    queue_jobs(&app, owner, 2);
    {
        // As if a worker died holding them: one on its first attempt, one on its second.
        use atelier::db::schema::generation_jobs as jobs;
        let past = chrono::Utc::now() - chrono::Duration::seconds(5);
        let ids: Vec<i64> = jobs::table
            .select(jobs::id)
            .order(jobs::id.asc())
            .load(&mut app.conn())
            .expect("ids");
        // A worker that died mid-job leaves this behind; no public path makes it.
        for (job, tries) in [(ids[0], 1), (ids[1], 2)] {
            diesel::update(jobs::table.filter(jobs::id.eq(job)))
                .set((
                    jobs::status.eq("running"),
                    jobs::attempts.eq(tries),
                    jobs::lease_until.eq(past),
                ))
                .execute(&mut app.conn())
                .expect("mark running");
        }
    }
    // A server starts (a second instance with workers) and recovers them.
    let _restarted = spawn_second_instance_with(&app, |s| {
        s.remove("generation_workers");
    })
    .await;
    use atelier::db::schema::generation_jobs as jobs;
    let rows: Vec<(String, i32)> = poll(
        Duration::from_secs(10),
        || async {
            jobs::table
                .select((jobs::status, jobs::attempts))
                .order(jobs::id.asc())
                .load(&mut app.conn())
                .expect("jobs")
        },
        |rows: &Vec<(String, i32)>| rows.iter().all(|(s, _)| s == "succeeded" || s == "failed"),
    )
    .await;
    assert_eq!(
        rows,
        vec![("succeeded".to_owned(), 2), ("failed".to_owned(), 2)]
    );
    assert_eq!(app.count_images(), 1);
}

/// A worker died after storing its pictures but before finishing the job: the retry
/// starts clean, so the job ends with exactly its own pictures, charged once.
#[tokio::test]
async fn a_retried_job_discards_what_its_interrupted_attempt_stored() {
    let app = spawn_app().await;
    let client = app.user("retried").await;
    let (status, reply) = client
        .generate(serde_json::json!({ "prompt": "twin peaks", "count": 2 }))
        .await;
    assert_eq!(status, 200, "{reply}");
    let job_id = reply["job_id"].as_i64().expect("job");
    use atelier::db::schema::{credit_ledger as ledger, generation_jobs as jobs, images};
    let first_attempt: Vec<i64> = images::table
        .filter(images::job_id.eq(job_id))
        .select(images::id)
        .load(&mut app.conn())
        .expect("images");
    assert_eq!(first_attempt.len(), 2);
    let files_before = app.stored_files().len();
    // As the database looks when the worker died just before `succeed`.
    diesel::update(jobs::table.find(job_id))
        .set((
            jobs::status.eq("running"),
            jobs::attempts.eq(1),
            jobs::lease_until.eq(chrono::Utc::now() - chrono::Duration::seconds(5)),
            jobs::image_ids.eq(Vec::<i64>::new()),
            jobs::finished_at.eq(None::<chrono::DateTime<chrono::Utc>>),
        ))
        .execute(&mut app.conn())
        .expect("interrupt");
    let _restarted = spawn_second_instance(&app).await;
    let finished = poll(
        Duration::from_secs(10),
        || async {
            jobs::table
                .find(job_id)
                .select((jobs::status, jobs::image_ids))
                .first::<(String, Vec<i64>)>(&mut app.conn())
                .expect("job")
        },
        |finished| finished.0 == "succeeded",
    )
    .await;
    assert_eq!(finished.0, "succeeded");
    let mut stored: Vec<i64> = images::table
        .filter(images::job_id.eq(job_id))
        .select(images::id)
        .load(&mut app.conn())
        .expect("images");
    stored.sort_unstable();
    let mut listed = finished.1.clone();
    listed.sort_unstable();
    assert_eq!(stored, listed, "every picture of the job is in its results");
    assert_eq!(stored.len(), 2);
    assert!(stored.iter().all(|id| !first_attempt.contains(id)));
    assert_eq!(
        app.stored_files().len(),
        files_before,
        "the first attempt's files are gone"
    );
    let charged: Vec<(String, i64)> = ledger::table
        .filter(ledger::job_id.eq(job_id))
        .select((ledger::reason, ledger::delta))
        .load(&mut app.conn())
        .expect("ledger");
    assert_eq!(
        charged,
        vec![("charge".to_owned(), -2)],
        "charged once, never refunded"
    );
}

#[test]
fn claims_prefer_the_owner_with_fewest_running_jobs() {
    use atelier::db::models::job::{NewJob, claim, enqueue};
    use diesel::Connection;
    let url = crate::support::helpers::fresh_database();
    let mut conn = diesel::PgConnection::establish(&url).expect("connect");
    let job = |conn: &mut diesel::PgConnection, owner: &str| {
        enqueue(
            conn,
            &NewJob {
                id: None,
                user_id: None,
                owner_key: owner,
                kind: atelier::domain::JobKind::Image,
                prompt: "p",
                params: serde_json::json!({}),
                client_ip: None,
                anon_id: None,
            },
        )
        .expect("enqueue")
        .id
    };
    let a1 = job(&mut conn, "user:a");
    let a2 = job(&mut conn, "user:a");
    let b1 = job(&mut conn, "user:b");
    assert_eq!(
        claim(&mut conn).expect("claim").map(|j| j.id),
        Some(a1),
        "oldest first"
    );
    assert_eq!(
        claim(&mut conn).expect("claim").map(|j| j.id),
        Some(b1),
        "a is busy: b goes next"
    );
    assert_eq!(claim(&mut conn).expect("claim").map(|j| j.id), Some(a2));
    assert!(claim(&mut conn).expect("claim").is_none());
}

#[tokio::test]
async fn a_story_becomes_one_picture_per_sentence_in_its_own_folder() {
    let app = spawn_app().await;
    let client = app.user("teller").await;
    let story = "A fox wakes at dawn in a misty forest. It runs down to the golden lake! At night the stars come out.";
    let response = client
        .post(app.url("/api/generate-story"))
        .json(&serde_json::json!({ "story": story }))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 200);
    let json: serde_json::Value = response.json().await.expect("json");
    assert_eq!(json["message"], "Story generated successfully");
    assert_eq!(json["folder"], "a-fox-wakes-at-dawn-in-a-misty-forest");
    assert_eq!(json["images"].as_array().expect("images").len(), 3);

    let images: serde_json::Value = app
        .json(
            &client,
            "/api/images?folder=a-fox-wakes-at-dawn-in-a-misty-forest",
        )
        .await;
    let mut prompts: Vec<String> = images["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|i| i["prompt"].as_str().expect("prompt").to_owned())
        .collect();
    prompts.sort();
    assert_eq!(
        prompts,
        [
            "A fox wakes at dawn in a misty forest.",
            "At night the stars come out.",
            "It runs down to the golden lake!"
        ]
    );
    {
        use atelier::db::schema::images;
        let seeds: Vec<Option<i64>> = images::table
            .select(images::seed)
            .load(&mut app.conn())
            .expect("seeds");
        assert!(
            seeds.windows(2).all(|w| w[0] == w[1]),
            "one shared style seed: {seeds:?}"
        );
    }

    // The job page shows the sequence, in order, with each sentence.
    let page = app
        .get(&client, &format!("/jobs/{}", json["job_id"]))
        .await
        .text()
        .await
        .expect("page");
    let first = page.find("A fox wakes at dawn").expect("scene 1");
    let second = page
        .find("It runs down to the golden lake")
        .expect("scene 2");
    let third = page.find("At night the stars come out").expect("scene 3");
    assert!(first < second && second < third);

    // A second story with the same opening gets a folder of its own.
    let response = app
        .post_form(
            &client,
            "/story",
            &[(
                "story",
                "A fox wakes at dawn in a misty forest. Then it sleeps.",
            )],
        )
        .await;
    assert_eq!(response.status(), 303);
    {
        use atelier::db::schema::folders;
        let slugs: Vec<String> = folders::table
            .select(folders::slug)
            .load(&mut app.conn())
            .expect("slugs");
        assert!(
            slugs.contains(&"a-fox-wakes-at-dawn-in-a-misty-forest-2".to_owned()),
            "{slugs:?}"
        );
    }
}

#[tokio::test]
async fn stories_need_two_to_eight_sentences() {
    let app = spawn_app().await;
    let client = app.user("brief").await;
    for story in ["Just one sentence.", "", &"Again and again. ".repeat(9)] {
        let response = client
            .post(app.url("/api/generate-story"))
            .json(&serde_json::json!({ "story": story }))
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), 400, "{story:?}");
        let json: serde_json::Value = response.json().await.expect("json");
        assert!(
            json["error"]
                .as_str()
                .expect("error")
                .contains("2 to 8 sentences")
        );
    }
    let response = app
        .post_form(&client, "/story", &[("story", "Too short.")])
        .await;
    assert_eq!(response.status(), 400);
    assert!(
        response.text().await.expect("page").contains("Too short."),
        "the text is kept"
    );
    let jobs = app.count_jobs();
    assert_eq!(jobs, 0);
}

#[tokio::test]
async fn a_prompt_edit_makes_a_new_linked_image_and_keeps_the_source() {
    let app = spawn_app().await;
    let client = app.user("editor").await;
    app.post_form(&client, "/folders", &[("name", "Trips")])
        .await;
    let source = app
        .upload_ok(
            &client,
            crate::support::fixtures::png(90, 60),
            &[("folder", "trips")],
        )
        .await;
    let before = app.api_images(&client).await[0]["urls"]["original"]
        .as_str()
        .expect("url")
        .to_owned();
    let original_bytes = app
        .get(&client, &before)
        .await
        .bytes()
        .await
        .expect("bytes");

    let response = app
        .post_form(
            &client,
            &format!("/images/{source}/prompt-edit"),
            &[("prompt", "make it vintage")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let job = location(&response).to_owned();
    eventually("the edit finishes", || async {
        app.get(&client, &job)
            .await
            .text()
            .await
            .expect("page")
            .contains("<h1>Done</h1>")
    })
    .await;
    let images = app.api_images(&client).await;
    assert_eq!(images.len(), 2);
    let edited = &images[0];
    assert_eq!(edited["kind"], "edited");
    assert_eq!(edited["folder"], "trips", "next to its source");
    assert_eq!(edited["prompt"], "make it vintage");
    assert_eq!(
        (edited["width"].as_i64(), edited["height"].as_i64()),
        (Some(90), Some(60)),
        "the builtin edit keeps the size"
    );
    let page = app
        .get(&client, &format!("/images/{}", edited["id"]))
        .await
        .text()
        .await
        .expect("page");
    assert!(
        page.contains(&format!("href=\"/images/{source}\"")),
        "links to its source"
    );
    assert_eq!(
        app.get(&client, &before)
            .await
            .bytes()
            .await
            .expect("bytes"),
        original_bytes,
        "source unchanged"
    );

    // Nobody edits another user's image; an empty prompt queues nothing.
    let stranger = app.user("meddler").await;
    let response = app
        .post_form(
            &stranger,
            &format!("/images/{source}/prompt-edit"),
            &[("prompt", "mine now")],
        )
        .await;
    assert_eq!(response.status(), 404);
    let response = app
        .post_form(
            &client,
            &format!("/images/{source}/prompt-edit"),
            &[("prompt", " ")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let page = app
        .get(&client, &format!("/images/{source}"))
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("prompt is empty"));
    let jobs = app.count_jobs();
    assert_eq!(jobs, 1);
}

#[tokio::test]
async fn the_story_form_says_what_a_story_costs_and_is_off_when_it_cannot_be_paid() {
    let app = crate::support::helpers::spawn_app_with(|s| {
        s.insert("signup_credits".into(), "1".into());
    })
    .await;
    let poor = app.user("onecredit").await;
    let page = app.page(&poor, "/story").await;
    assert!(
        page.contains("Each sentence is a picture at 1 credit; you have 1"),
        "{page}"
    );
    assert!(
        page.contains("disabled aria-describedby=\"story-cost\">Illustrate"),
        "two sentences need two credits: {page}"
    );
    crate::quotas::grant(&app, "onecredit", 5);
    let page = app.page(&poor, "/story").await;
    assert!(
        page.contains("you have 6.") && !page.contains("disabled aria-describedby=\"story-cost\""),
        "{page}"
    );
}
