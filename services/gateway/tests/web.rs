//! The web front over real services (identity with its built-in issuer, the vault), all
//! in-process on port 0, driven over HTTP as a browser would: sessions, CSRF, security
//! headers, sign-out, errors as sentences, and who reaches what.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use passerelle_identity::{IdentityConfig, IdpChoice};
use passerelle_kit::CancellationToken;
use passerelle_kit::auth::{AUDIENCE, JwtVerifier};
use passerelle_kit::clock::SystemClock;
use passerelle_kit::secrets::MasterKey;
use passerelle_kit::testing::TestEngines;
use passerelle_proto::identity::v1 as id;
use passerelle_proto::identity::v1::identity_client::IdentityClient;
use passerelle_proto::vault::v1 as pb;
use passerelle_proto::vault::v1::vault_client::VaultClient;
use reqwest::redirect::Policy;

const ADMIN_PASSWORD: &str = "a long admin passphrase";

struct Platform {
    web: String,
    identity: tonic::transport::Channel,
    vault: tonic::transport::Channel,
    shutdown: CancellationToken,
    _engines: TestEngines,
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn listen() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    (listener, addr)
}

async fn platform() -> Platform {
    let engines = TestEngines::new();
    let shutdown = CancellationToken::new();
    let master = MasterKey::generate().unwrap();
    let (identity_listener, identity_addr) = listen().await;
    let public_url = format!("http://{identity_addr}");
    let issuer = format!("{public_url}/realms/passerelle");
    let config = IdentityConfig {
        base: engines.base(None, Arc::new(SystemClock)),
        idp: IdpChoice::BuiltIn,
        master_key: master.clone(),
        public_url,
        token_ttl: Duration::from_secs(900),
        key_rotation: Duration::from_secs(30 * 86_400),
        argon2_memory_kib: 1024,
        argon2_passes: 1,
        argon2_budget_mib: 64,
        sms: None,
        bootstrap_admin: Some(("admin".into(), ADMIN_PASSWORD.into())),
        erasure_journal: None,
    };
    let mut base = config.base.clone();
    // The services believe the web front's forwarded address (it calls from the loopback).
    base.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let config = IdentityConfig { base, ..config };
    let running = passerelle_identity::start(config, shutdown.clone())
        .await
        .unwrap();
    tokio::spawn(running.serve(identity_listener, shutdown.clone()));
    let verifier = || {
        Some(JwtVerifier::for_issuer(
            &issuer,
            None,
            Some(AUDIENCE.into()),
        ))
    };

    let (vault_listener, vault_addr) = listen().await;
    let vault = passerelle_vault::VaultConfig {
        base: engines.base(verifier(), Arc::new(SystemClock)),
        master_key: master.clone(),
        blobs_url: format!("file://{}", engines.dir.path().join("blobs").display()),
        limits: passerelle_vault::service::Limits::default(),
        procedures_json: None,
        abandon_uploads_after: Duration::from_secs(86_400),
    };
    let running = passerelle_vault::start(vault, shutdown.clone())
        .await
        .unwrap();
    tokio::spawn(running.serve(vault_listener, shutdown.clone()));

    let (web_listener, web_addr) = listen().await;
    let gateway = passerelle_gateway::GatewayConfig {
        base: engines.base(verifier(), Arc::new(SystemClock)),
        master_key: master,
        identity_url: format!("http://{identity_addr}"),
        vault_url: format!("http://{vault_addr}"),
        web_url: Some(url::Url::parse(&format!("http://{web_addr}")).unwrap()),
        session_idle: Duration::from_secs(600),
        session_max: Duration::from_secs(36_000),
        oidc: None,
    };
    let running = passerelle_gateway::start(gateway, shutdown.clone())
        .await
        .unwrap();
    tokio::spawn(running.serve(web_listener, shutdown.clone()));
    let connect = |addr: String| async move {
        tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap()
    };
    Platform {
        web: format!("http://{web_addr}"),
        identity: connect(identity_addr).await,
        vault: connect(vault_addr).await,
        shutdown,
        _engines: engines,
    }
}

fn bearer(token: &str) -> impl tonic::service::Interceptor + Clone + use<> {
    let value: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    move |mut request: tonic::Request<()>| {
        request
            .metadata_mut()
            .insert("authorization", value.clone());
        Ok(request)
    }
}

impl Platform {
    async fn token(&self, username: &str, secret: &str) -> String {
        IdentityClient::new(self.identity.clone())
            .login(id::LoginRequest {
                username: username.into(),
                secret: secret.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .access_token
    }

    /// Makes an account (as `by`), returning its id.
    async fn account(
        &self,
        by: &str,
        role: id::Role,
        username: &str,
        secret: &str,
        structure: &str,
    ) -> String {
        IdentityClient::with_interceptor(self.identity.clone(), bearer(by))
            .create_account(id::CreateAccountRequest {
                role: role as i32,
                username: username.into(),
                given_name: "Camille".into(),
                family_name: "Martin".into(),
                language: "fr".into(),
                secret: secret.into(),
                structure: structure.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .account
            .unwrap()
            .id
    }

    /// A beneficiary made by an agent of ccas-nord, with one document.
    async fn beneficiary_with_a_document(&self) -> (String, String) {
        let admin = self.token("admin", ADMIN_PASSWORD).await;
        self.account(
            &admin,
            id::Role::Agent,
            "agent-nord",
            "agent passphrase 1",
            "ccas-nord",
        )
        .await;
        let agent = self.token("agent-nord", "agent passphrase 1").await;
        let person = self
            .account(&agent, id::Role::Beneficiary, "camille", "482913", "")
            .await;
        let token = self.token("camille", "482913").await;
        let bytes = b"%PDF-1.7\nune attestation".to_vec();
        let messages = vec![
            pb::UploadRequest {
                part: Some(pb::upload_request::Part::Start(pb::UploadStart {
                    upload_id: uuid::Uuid::new_v4().to_string(),
                    owner_id: person.clone(),
                    r#type: pb::DocumentType::CafCertificate as i32,
                    title: "Attestation CAF".into(),
                    expires_on: "2020-01-31".into(),
                    size_bytes: bytes.len() as i64,
                    ..Default::default()
                })),
            },
            pb::UploadRequest {
                part: Some(pb::upload_request::Part::Chunk(bytes)),
            },
        ];
        let doc = VaultClient::with_interceptor(self.vault.clone(), bearer(&token))
            .upload(tokio_stream::iter(messages))
            .await
            .unwrap()
            .into_inner();
        (person, doc.id)
    }
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .default_headers(
            [(reqwest::header::ACCEPT_LANGUAGE, "fr-FR".parse().unwrap())]
                .into_iter()
                .collect(),
        )
        .build()
        .unwrap()
}

/// The value of the hidden CSRF field of a page.
fn csrf(html: &str) -> String {
    let at = html.find("name=\"_csrf\" value=\"").expect("a CSRF field") + 20;
    html[at..].split('"').next().unwrap().to_owned()
}

async fn sign_in(
    web: &str,
    client: &reqwest::Client,
    username: &str,
    secret: &str,
) -> reqwest::Response {
    let page = client.get(format!("{web}/connexion")).send().await.unwrap();
    let token = csrf(&page.text().await.unwrap());
    client
        .post(format!("{web}/connexion"))
        .form(&[
            ("_csrf", token.as_str()),
            ("username", username),
            ("secret", secret),
            ("suite", "/mes-papiers"),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_the_security_headers() {
    let p = platform().await;
    let client = browser();
    for path in [
        "/",
        "/connexion",
        "/partage",
        "/nowhere",
        "/static/passerelle.css",
    ] {
        let response = client.get(format!("{}{path}", p.web)).send().await.unwrap();
        let headers = response.headers();
        let csp = headers
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("no CSP on {path}"))
            .to_str()
            .unwrap();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        if !path.starts_with("/static/") {
            assert_eq!(headers["cache-control"], "no-store", "{path}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_sees_their_papers_and_signs_out_for_good() {
    let p = platform().await;
    let (_, doc) = p.beneficiary_with_a_document().await;
    let client = browser();

    // Without its CSRF token, the sign-in form is refused and nothing opens.
    let refused = client
        .post(format!("{}/connexion", p.web))
        .form(&[("username", "camille"), ("secret", "482913")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Ce formulaire a expiré")
    );

    // A wrong code says so in words.
    let wrong = sign_in(&p.web, &client, "camille", "000001").await;
    assert_eq!(wrong.status(), 401);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("L&#39;identifiant ou le code n&#39;est pas bon")
    );

    let signed = sign_in(&p.web, &client, "camille", "482913").await;
    assert_eq!(signed.status(), 303);
    assert_eq!(signed.headers()["location"], "/mes-papiers");
    let cookie = signed
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("passerelle_session="))
        .expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_owned();

    let papers = client
        .get(format!("{}/mes-papiers", p.web))
        .send()
        .await
        .unwrap();
    assert_eq!(papers.status(), 200);
    let html = papers.text().await.unwrap();
    assert!(
        html.contains("Attestation CAF") && html.contains("Périmé depuis le 31 janvier 2020"),
        "{html}"
    );
    let file = client
        .get(format!("{}/mes-papiers/{doc}/fichier", p.web))
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), 200);
    assert!(
        file.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    assert_eq!(
        file.bytes().await.unwrap().as_ref(),
        b"%PDF-1.7\nune attestation"
    );

    // "Je termine": the session ends, and the old cookie opens nothing any more.
    let token = csrf(&html);
    let out = client
        .post(format!("{}/deconnexion", p.web))
        .form(&[("_csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    let replay = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/mes-papiers", p.web))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(
        replay.status(),
        303,
        "a signed-out session still opens pages"
    );
    assert!(
        replay.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/connexion")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_code_opens_the_document_without_an_account() {
    let p = platform().await;
    let (_, doc) = p.beneficiary_with_a_document().await;
    let owner = browser();
    assert_eq!(
        sign_in(&p.web, &owner, "camille", "482913").await.status(),
        303
    );
    let page = owner
        .get(format!("{}/mes-papiers/{doc}", p.web))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let made = owner
        .post(format!("{}/mes-papiers/{doc}/partager", p.web))
        .form(&[
            ("_csrf", csrf(&page).as_str()),
            ("recipient", "mairie"),
            ("days", "3"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = made.find("<p class=\"code\" lang=\"zxx\">").unwrap() + 27;
    let code = made[at..].split('<').next().unwrap().to_owned();
    assert!(made.contains("<svg"), "a QR code");

    let stranger = browser();
    let form = stranger
        .get(format!("{}/partage", p.web))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf(&form);
    let wrong = stranger
        .post(format!("{}/partage", p.web))
        .form(&[("_csrf", token.as_str()), ("code", "AAAA-BBBB-CCCC")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("Ce code ne marche pas")
    );
    let opened = stranger
        .post(format!("{}/partage", p.web))
        .form(&[("_csrf", token.as_str()), ("code", code.as_str())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(opened.contains("Attestation CAF"), "{opened}");
    let file = stranger
        .post(format!("{}/partage/fichier", p.web))
        .form(&[
            ("_csrf", token.as_str()),
            ("code", code.as_str()),
            ("document_id", doc.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        file.bytes().await.unwrap().as_ref(),
        b"%PDF-1.7\nune attestation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_find_only_their_structures_people() {
    let p = platform().await;
    p.beneficiary_with_a_document().await;
    let admin = p.token("admin", ADMIN_PASSWORD).await;
    p.account(
        &admin,
        id::Role::Agent,
        "agent-sud",
        "agent passphrase 2",
        "ccas-sud",
    )
    .await;
    let nord = browser();
    assert_eq!(
        sign_in(&p.web, &nord, "agent-nord", "agent passphrase 1")
            .await
            .status(),
        303
    );
    let found = nord
        .get(format!("{}/personnes?q=camille", p.web))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        found.contains("1 personne trouvée") && found.contains("Camille Martin"),
        "{found}"
    );
    let sud = browser();
    assert_eq!(
        sign_in(&p.web, &sud, "agent-sud", "agent passphrase 2")
            .await
            .status(),
        303
    );
    let none = sud
        .get(format!("{}/personnes?q=camille", p.web))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(none.contains("Aucune personne trouvée"), "{none}");
    // A beneficiary cannot use the desk.
    let person = browser();
    assert_eq!(
        sign_in(&p.web, &person, "camille", "482913").await.status(),
        303
    );
    let denied = person
        .get(format!("{}/personnes?q=x", p.web))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_throttling_reads_as_a_wait_in_minutes() {
    let p = platform().await;
    p.beneficiary_with_a_document().await;
    let client = browser();
    let mut last = None;
    for _ in 0..8 {
        let response = sign_in(&p.web, &client, "camille", "000001").await;
        last = Some((response.status(), response.text().await.unwrap()));
    }
    let (status, html) = last.unwrap();
    assert_eq!(status, 429, "{html}");
    assert!(html.contains("Trop d&#39;essais. Réessayez dans"), "{html}");
}

/// The value after `marker` up to the next `<`, in a page.
fn text_after(html: &str, marker: &str) -> String {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in {html}"))
        + marker.len();
    html[at..].split('<').next().unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_opens_an_account_records_a_mandate_and_files_papers() {
    let p = platform().await;
    let admin_token = p.token("admin", ADMIN_PASSWORD).await;
    p.account(
        &admin_token,
        id::Role::Agent,
        "agent-nord",
        "agent passphrase 1",
        "ccas-nord",
    )
    .await;
    p.account(
        &admin_token,
        id::Role::Agent,
        "agent-sud",
        "agent passphrase 2",
        "ccas-sud",
    )
    .await;
    let agent = browser();
    assert_eq!(
        sign_in(&p.web, &agent, "agent-nord", "agent passphrase 1")
            .await
            .status(),
        303
    );

    // A new person, no e-mail: a generated username and the recovery sheet to print.
    let form = agent
        .get(format!("{}/personnes/nouvelle", p.web))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf(&form);
    let weak = agent
        .post(format!("{}/personnes/nouvelle", p.web))
        .form(&[
            ("_csrf", token.as_str()),
            ("given_name", "Lucien"),
            ("family_name", "Dubois"),
            ("pin", "123456"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(weak.status(), 422);
    assert!(weak.text().await.unwrap().contains("trop facile à deviner"));
    let sheet = agent
        .post(format!("{}/personnes/nouvelle", p.web))
        .form(&[
            ("_csrf", token.as_str()),
            ("given_name", "Lucien"),
            ("family_name", "Dubois"),
            ("birth_date", "02/05/1948"),
            ("language", "fr"),
            ("pin", "482913"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let username = text_after(&sheet, "<p class=\"code\">");
    assert!(username.contains('-'), "a generated username: {username}");
    let at = sheet.find("/feuille/").expect("a link to the sheet's PDF");
    let start = sheet[..at].rfind('"').unwrap() + 1;
    let pdf_path = sheet[start..].split('"').next().unwrap().to_owned();
    let pdf = agent
        .get(format!("{}{pdf_path}", p.web))
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF"));
    let person_id = pdf_path.split('/').nth(2).unwrap().to_owned();

    // Without a mandate: no documents, an offer to record one.
    let page = agent
        .get(format!("{}/personnes/{person_id}", p.web))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Lucien Dubois") && page.contains("il faut un accord"),
        "{page}"
    );

    // A mandate at the desk: summary, the person's typed name and own code.
    let token = csrf(&page);
    let summary = agent
        .post(format!("{}/personnes/{person_id}/mandat/resume", p.web))
        .form(&[
            ("_csrf", token.as_str()),
            ("documents", "1"),
            ("duration", "mois"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        summary.contains("voir ses papiers, en ajouter et les partager")
            && summary.contains("Pendant 1 mois."),
        "{summary}"
    );
    let wrong = agent
        .post(format!("{}/personnes/{person_id}/mandat", p.web))
        .form(&[
            ("_csrf", token.as_str()),
            ("documents", "1"),
            ("duration", "mois"),
            ("typed_signature", "Lucien Dubois"),
            ("secret", "111111"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 422);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("Le code de la personne n&#39;est pas bon")
    );
    let granted = agent
        .post(format!("{}/personnes/{person_id}/mandat", p.web))
        .form(&[
            ("_csrf", token.as_str()),
            ("documents", "1"),
            ("duration", "mois"),
            ("typed_signature", "Lucien Dubois"),
            ("secret", "482913"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(granted.status(), 303, "{:?}", granted.text().await);

    // Two papers at once, one of a refused type.
    let upload = |files: Vec<(&'static str, Vec<u8>)>| {
        let mut form = reqwest::multipart::Form::new()
            .text("_csrf", token.clone())
            .text(
                "type",
                (pb::DocumentType::ProofOfAddress as i32).to_string(),
            )
            .text("title", "Justificatif")
            .text("expires", "2030-01-01");
        for (name, bytes) in files {
            form = form.part(
                "files",
                reqwest::multipart::Part::bytes(bytes).file_name(name),
            );
        }
        agent
            .post(format!("{}/personnes/{person_id}/documents", p.web))
            .multipart(form)
            .send()
    };
    let refused = upload(vec![(
        "page.html",
        b"<html><script>alert(1)</script></html>".to_vec(),
    )])
    .await
    .unwrap();
    assert_eq!(refused.status(), 422);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Ce type de fichier n&#39;est pas accepté")
    );
    let sent = upload(vec![
        ("facture.pdf", b"%PDF-1.7\nfacture EDF".to_vec()),
        ("quittance.pdf", b"%PDF-1.7\nquittance de loyer".to_vec()),
    ])
    .await
    .unwrap();
    assert_eq!(sent.status(), 303);
    let page = agent
        .get(format!("{}/personnes/{person_id}", p.web))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Justificatif (1)") && page.contains("Justificatif (2)"),
        "{page}"
    );

    // Another structure's agent reaches neither the person nor their papers by URL.
    let other = browser();
    assert_eq!(
        sign_in(&p.web, &other, "agent-sud", "agent passphrase 2")
            .await
            .status(),
        303
    );
    let foreign = other
        .get(format!("{}/personnes/{person_id}", p.web))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 404);
    let doc = text_after(&page, &format!("href=\"/personnes/{person_id}/documents/"));
    let doc = doc.split('/').next().unwrap().to_owned();
    let stolen = other
        .get(format!(
            "{}/personnes/{person_id}/documents/{doc}/fichier",
            p.web
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        stolen.status(),
        403,
        "another structure downloaded a document"
    );

    // The person sees who helps them and what was done, and withdraws: access ends at once.
    let person = browser();
    assert_eq!(
        sign_in(&p.web, &person, &username, "482913").await.status(),
        303
    );
    let helpers = person
        .get(format!("{}/qui-m-aide", p.web))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        helpers.contains("ccas-nord") && helpers.contains("a ajouté un document"),
        "{helpers}"
    );
    let mandate = text_after(&helpers, "action=\"/qui-m-aide/");
    let mandate = mandate.split('/').next().unwrap().to_owned();
    let withdrawn = person
        .post(format!("{}/qui-m-aide/{mandate}/retirer", p.web))
        .form(&[("_csrf", csrf(&helpers).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(withdrawn.status(), 303);
    let after = agent
        .get(format!(
            "{}/personnes/{person_id}/documents/{doc}/fichier",
            p.web
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        after.status(),
        403,
        "a withdrawn mandate still opens documents"
    );
}
