//! The web front over real services (identity with its built-in issuer, the vault), all
//! in-process on port 0, driven over HTTP as a browser would: sessions, CSRF, security
//! headers, sign-out, errors as sentences, and who reaches what.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use passerelle_proto::identity::v1 as id;
use passerelle_proto::vault::v1 as pb;
use reqwest::redirect::Policy;

use support::*;

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
        b"%PDF-1.7\nAttestation CAF"
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
    let owner = signed_in(&p.web, "camille", "482913").await;
    let page = get_page(&owner, format!("{}/mes-papiers/{doc}", p.web)).await;
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
    let form = get_page(&stranger, format!("{}/partage", p.web)).await;
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
        b"%PDF-1.7\nAttestation CAF"
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
    let nord = signed_in(&p.web, "agent-nord", "agent passphrase 1").await;
    let found = get_page(&nord, format!("{}/personnes?q=camille", p.web)).await;
    assert!(
        found.contains("1 personne trouvée") && found.contains("Camille Martin"),
        "{found}"
    );
    let sud = signed_in(&p.web, "agent-sud", "agent passphrase 2").await;
    let none = get_page(&sud, format!("{}/personnes?q=camille", p.web)).await;
    assert!(none.contains("Aucune personne trouvée"), "{none}");
    // A beneficiary cannot use the desk.
    let person = signed_in(&p.web, "camille", "482913").await;
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
    let agent = signed_in(&p.web, "agent-nord", "agent passphrase 1").await;

    // A new person, no e-mail: a generated username and the recovery sheet to print.
    let form = get_page(&agent, format!("{}/personnes/nouvelle", p.web)).await;
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
    let page = get_page(&agent, format!("{}/personnes/{person_id}", p.web)).await;
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
            && summary.contains("Pendant 1 mois.")
            && summary.contains("CCAS d&#39;Amiens, antenne Nord"),
        "the structure by its name: {summary}"
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
    let page = get_page(&agent, format!("{}/personnes/{person_id}", p.web)).await;
    assert!(
        page.contains("Justificatif (1)") && page.contains("Justificatif (2)"),
        "{page}"
    );

    // Another structure's agent reaches neither the person nor their papers by URL.
    let other = signed_in(&p.web, "agent-sud", "agent passphrase 2").await;
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
    let helpers = get_page(&person, format!("{}/qui-m-aide", p.web)).await;
    assert!(
        helpers.contains("CCAS d&#39;Amiens, antenne Nord")
            && !helpers.contains("ccas-nord")
            && helpers.contains("a ajouté un document"),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_keep_the_registry_of_structures_and_no_one_else() {
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
    let admin = signed_in(&p.web, "admin", ADMIN_PASSWORD).await;
    let get = |client: &reqwest::Client, path: &str| {
        let (client, url) = (client.clone(), format!("{}{path}", p.web));
        async move {
            let response = client.get(url).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, page) = get(&admin, "/structures").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("CCAS d&#39;Amiens, antenne Nord") && page.contains("<code>ccas-nord</code>"),
        "{page}"
    );
    let token = csrf(&page);
    let post = |fields: Vec<(&'static str, String)>| {
        let (admin, url) = (admin.clone(), format!("{}/structures", p.web));
        async move {
            let response = admin.post(url).form(&fields).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let pimms = |csrf: String, id: &str| {
        vec![
            ("_csrf", csrf),
            ("id", id.to_owned()),
            ("name", "PIMMS Amiens Métropole".to_owned()),
            ("kind", "association".to_owned()),
        ]
    };
    // Without the form's token, nothing is saved.
    let (status, _) = post(pimms(String::new(), "pimms-amiens")).await;
    assert_eq!(status, 403);
    // A wrong identifier is said in place, the values kept.
    let (status, page) = post(pimms(token.clone(), "pimms amiens")).await;
    assert_eq!(status, 422);
    assert!(
        page.contains("structure `pimms amiens` is not accepted")
            && page.contains("value=\"PIMMS Amiens Métropole\""),
        "{page}"
    );
    let (status, page) = post(pimms(token.clone(), "pimms-amiens")).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("La structure « PIMMS Amiens Métropole » est enregistrée.")
            && page.contains("<code>pimms-amiens</code>"),
        "{page}"
    );
    // Renaming starts from the structure's own values.
    let (_, form) = get(&admin, "/structures?modifier=ccas-nord").await;
    assert!(
        form.contains("value=\"CCAS d&#39;Amiens, antenne Nord\"")
            && form.contains("value=\"ccas-nord\""),
        "{form}"
    );
    // Agents neither read nor change the registry.
    let agent = signed_in(&p.web, "agent-nord", "agent passphrase 1").await;
    let (status, _) = get(&agent, "/structures").await;
    assert_eq!(status, 403);
    let agent_token = csrf(&get(&agent, "/personnes").await.1);
    let refused = agent
        .post(format!("{}/structures", p.web))
        .form(&pimms(agent_token, "taken-over"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
}
