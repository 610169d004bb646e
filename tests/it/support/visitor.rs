//! The typed test user: somebody using a test server, as one value. A `Visitor` holds a
//! cookie jar (signed in or not), the address a trusted proxy names for them (when the
//! test cares where they are) and an API token (once they have one); every request sent
//! through it carries all three. Tests order pictures and clips only through `order_image`,
//! `generate` and `order_video` here, and never set `X-Forwarded-For` or `Authorization` by hand.
//!
//! A `Visitor` dereferences to its `reqwest::Client`, so the harness's `app.get(&visitor,
//! path)` and friends take it as they take a bare client.

use reqwest::{Client, Method, RequestBuilder, Response};

use super::helpers::{PASSWORD, TestApp, new_client};

#[derive(Clone)]
pub struct Visitor {
    client: Client,
    base: String,
    address: Option<String>,
    token: Option<String>,
    /// The account's name, for a signed-in visitor.
    pub name: Option<String>,
}

impl std::ops::Deref for Visitor {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Visitor {
    /// Nobody in particular, with an empty cookie jar, talking to the server at `base`
    /// (a second instance's address works as well as the app's).
    pub fn at(base: &str) -> Self {
        Self {
            client: new_client(),
            base: base.to_owned(),
            address: None,
            token: None,
            name: None,
        }
    }

    /// The same person (the same cookie jar and token), coming from `address` (as the
    /// trusted proxy at 127.0.0.1 says in `X-Forwarded-For`; any text, so tests can send
    /// malformed ones).
    pub fn from(&self, address: &str) -> Self {
        Self {
            address: Some(address.to_owned()),
            ..self.clone()
        }
    }

    /// The same person, now sending `token` as a bearer token.
    pub fn with_token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    /// The same cookie jar, token and address, talking to the server at `base`.
    pub fn on(&self, base: &str) -> Self {
        Self {
            base: base.to_owned(),
            ..self.clone()
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request to `path` from this visitor: their cookies, address and token.
    pub fn request_to(&self, method: Method, path: &str) -> RequestBuilder {
        let mut request = self.client.request(method, self.url(path));
        if let Some(address) = &self.address {
            request = request.header("x-forwarded-for", address);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request
    }

    /// `GET path`, sent.
    /// Uploads a small picture through `POST /api/upload` with `fields` (title, tags…);
    /// its id.
    pub async fn api_upload(&self, fields: &[(&str, &str)]) -> i64 {
        let part = reqwest::multipart::Part::bytes(super::fixtures::png(40, 30))
            .file_name("photo.png")
            .mime_str("image/png")
            .expect("mime");
        let mut form = reqwest::multipart::Form::new().part("file", part);
        for (name, value) in fields {
            form = form.text(name.to_string(), value.to_string());
        }
        let response = self
            .request_to(Method::POST, "/api/upload")
            .multipart(form)
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), 201);
        let json: serde_json::Value = response.json().await.expect("json");
        json["id"]
            .as_i64()
            .or(json["image"]["id"].as_i64())
            .expect("id")
    }

    pub async fn fetch(&self, path: &str) -> Response {
        self.request_to(Method::GET, path)
            .send()
            .await
            .unwrap_or_else(|error| panic!("GET {path}: {error}"))
    }

    /// `POST path` with a urlencoded form, sent.
    pub async fn submit(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.request_to(Method::POST, path)
            .form(form)
            .send()
            .await
            .unwrap_or_else(|error| panic!("POST {path}: {error}"))
    }

    /// `POST /api/generate-image` with `body`: the one way tests order pictures.
    pub async fn order_image(&self, body: &serde_json::Value) -> Response {
        self.request_to(Method::POST, "/api/generate-image")
            .json(body)
            .send()
            .await
            .expect("POST /api/generate-image")
    }

    /// As [`Visitor::order_image`]: the status and the JSON answer.
    pub async fn generate(&self, body: serde_json::Value) -> (u16, serde_json::Value) {
        let response = self.order_image(&body).await;
        let status = response.status().as_u16();
        (status, response.json().await.expect("json"))
    }

    /// `POST /api/generate-video` with `body`: the status and the JSON answer.
    pub async fn order_video(&self, body: serde_json::Value) -> (u16, serde_json::Value) {
        let response = self
            .request_to(Method::POST, "/api/generate-video")
            .json(&body)
            .send()
            .await
            .expect("POST /api/generate-video");
        let status = response.status().as_u16();
        (status, response.json().await.expect("json"))
    }

    /// One picture for `prompt`, waited for; the JSON answer (the order must succeed).
    pub async fn generated(&self, prompt: &str) -> serde_json::Value {
        let (status, json) = self.generate(serde_json::json!({ "prompt": prompt })).await;
        assert_eq!(status, 200, "generate {prompt}: {json}");
        json
    }

    /// An order for one picture that does not wait for it: the answer (202 when queued).
    pub async fn order_one(&self) -> Response {
        let body = serde_json::json!({ "prompt": "a quiet harbour", "wait": false });
        self.order_image(&body).await
    }

    /// The status of [`Visitor::order_one`].
    pub async fn try_order(&self) -> u16 {
        self.order_one().await.status().as_u16()
    }
}

impl TestApp {
    /// Somebody new with no account, from wherever the test client is.
    pub fn visitor(&self) -> Visitor {
        Visitor::at(&self.address)
    }

    /// Somebody new with no account, from `address`.
    pub fn visitor_from(&self, address: &str) -> Visitor {
        self.visitor().from(address)
    }

    /// A new account named `username` (email `{username}@example.com`, the tests'
    /// password), registered and signed in.
    pub async fn user(&self, username: &str) -> Visitor {
        self.visitor().signed_up(username).await
    }

    /// As [`TestApp::user`], the account made and used from `address`.
    pub async fn user_from(&self, username: &str, address: &str) -> Visitor {
        self.visitor_from(address).signed_up(username).await
    }
}

impl Visitor {
    /// Registers `username` and signs in as it.
    pub async fn signed_up(self, username: &str) -> Self {
        let email = format!("{username}@example.com");
        let response = self
            .submit(
                "/register",
                &[
                    ("username", username),
                    ("email", &email),
                    ("password", PASSWORD),
                    ("confirm_password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(response.status(), 303, "register {username}");
        self.signed_in(username).await
    }

    /// Signs in to the existing account `username` (with the tests' password).
    pub async fn signed_in(mut self, username: &str) -> Self {
        let response = self
            .submit("/login", &[("username", username), ("password", PASSWORD)])
            .await;
        assert_eq!(response.status(), 303, "login {username}");
        self.name = Some(username.to_owned());
        self
    }
}
