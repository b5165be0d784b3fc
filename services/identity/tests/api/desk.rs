//! What the web front needs at the desk: finding a person of one's structure by name, username
//! or date of birth, and sessions that last a working day by renewing tokens, never past it.

use std::sync::Arc;

use passerelle_identity::IdpChoice;
use passerelle_kit::clock::ManualClock;
use passerelle_proto::identity::v1 as pb;
use tonic::Code;

use crate::helpers::{ADMIN, App, spawn_app, spawn_with};

async fn person(app: &App, agent: &str, username: &str, given: &str, family: &str, born: &str) {
    app.client(Some(agent))
        .create_account(pb::CreateAccountRequest {
            role: pb::Role::Beneficiary as i32,
            username: username.into(),
            given_name: given.into(),
            family_name: family.into(),
            language: "fr".into(),
            secret: format!("{username}-secret"),
            birth_date: born.into(),
            ..Default::default()
        })
        .await
        .unwrap();
}

async fn search(
    app: &App,
    token: &str,
    query: &str,
    born: &str,
) -> Result<Vec<String>, tonic::Status> {
    app.client(Some(token))
        .search_accounts(pb::SearchAccountsRequest {
            query: query.into(),
            birth_date: born.into(),
            ..Default::default()
        })
        .await
        .map(|r| {
            r.into_inner()
                .accounts
                .into_iter()
                .map(|a| a.username)
                .collect()
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_find_the_people_of_their_own_structure() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create(&admin, pb::Role::Agent, "agent-nord", "ccas-nord", "")
        .await;
    app.create(&admin, pb::Role::Agent, "agent-sud", "ccas-sud", "")
        .await;
    let nord = app.token_of("agent-nord").await;
    let sud = app.token_of("agent-sud").await;
    person(&app, &nord, "elodie.n", "Élodie", "N'Diaye", "1961-03-14").await;
    person(&app, &nord, "eric.n", "Éric", "Ndiaye", "1990-07-01").await;
    person(&app, &sud, "elodie.s", "Elodie", "Ndiaye", "1961-03-14").await;

    // Accents, case and punctuation do not matter; only one's own structure is searched.
    assert_eq!(
        search(&app, &nord, "elodie ndia", "").await.unwrap(),
        ["elodie.n"]
    );
    assert_eq!(
        search(&app, &nord, "ELODIE n'diaye", "").await.unwrap(),
        ["elodie.n"]
    );
    let mut both = search(&app, &nord, "ndiaye", "").await.unwrap();
    both.sort();
    assert_eq!(both, ["elodie.n", "eric.n"]);
    assert_eq!(
        search(&app, &nord, "", "14/03/1961").await.unwrap(),
        ["elodie.n"]
    );
    assert_eq!(
        search(&app, &sud, "elodie", "").await.unwrap(),
        ["elodie.s"]
    );
    assert_eq!(search(&app, &nord, "eric.n", "").await.unwrap(), ["eric.n"]);

    // Nothing to search on, a date in the future, a beneficiary searching: each refused.
    let empty = search(&app, &nord, "  ", "").await.unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument, "{empty:?}");
    let future = search(&app, &nord, "", "2999-01-01").await.unwrap_err();
    assert!(future.message().contains("date of birth"), "{future:?}");
    let beneficiary = app.token_of("elodie.n").await;
    let refused = search(&app, &beneficiary, "eric", "").await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");

    // An erased person is found no more.
    let found = app
        .client(Some(&nord))
        .search_accounts(pb::SearchAccountsRequest {
            query: "elodie".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .accounts;
    assert_eq!(found[0].birth_date, "1961-03-14");
    app.client(Some(&beneficiary))
        .erase_account(pb::EraseAccountRequest {
            account_id: found[0].id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(
        search(&app, &nord, "elodie", "").await.unwrap(),
        Vec::<String>::new()
    );
    let _ = ADMIN;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_renewed_for_a_working_day_and_no_longer() {
    let clock = ManualClock::starting_now();
    let app = spawn_with(IdpChoice::BuiltIn, clock.clone(), ADMIN).await;
    let admin = app.admin().await;
    let renew = |token: String| {
        let mut client = app.client(Some(&token));
        async move {
            client
                .renew_token(pb::RenewTokenRequest {})
                .await
                .map(|r| r.into_inner().access_token)
        }
    };
    let mut token = admin.clone();
    for _ in 0..11 {
        clock.advance(3600);
        // Each renewed token is good for the next hour's calls and renewals.
        token = renew(token).await.unwrap();
        app.client(Some(&token))
            .search_accounts(pb::SearchAccountsRequest {
                query: "x".into(),
                structure: "ccas-nord".into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    clock.advance(3600 + 60);
    let refused = renew(token).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    assert!(refused.message().contains("sign in again"), "{refused:?}");
    let _ = Arc::new(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_person_reads_their_own_account_without_knowing_its_id() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create(&admin, pb::Role::Agent, "agent-est", "ccas-est", "")
        .await;
    let agent = app.token_of("agent-est").await;
    let (person, _) = app
        .create(&agent, pb::Role::Beneficiary, "mariam.diallo", "", "")
        .await;
    let token = app.token_of("mariam.diallo").await;
    let me = app
        .client(Some(&token))
        .get_account(pb::GetAccountRequest::default())
        .await
        .expect("an empty account_id is the caller's own account")
        .into_inner();
    assert_eq!(me.id, person.id);
    assert_eq!(me.username, "mariam.diallo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_without_a_mandate_is_told_that_any_mandate_would_do() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create(&admin, pb::Role::Agent, "agent-nord", "ccas-nord", "")
        .await;
    app.create(&admin, pb::Role::Agent, "agent-ouest", "ccas-ouest", "")
        .await;
    let nord = app.token_of("agent-nord").await;
    let (person, _) = app
        .create(&nord, pb::Role::Beneficiary, "paul.henry", "", "")
        .await;
    let ouest = app.token_of("agent-ouest").await;
    let refused = app
        .client(Some(&ouest))
        .get_account(pb::GetAccountRequest {
            account_id: person.id,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let message = refused.message();
    assert!(
        message.contains("has given ccas-ouest no live mandate")
            && message.contains(
                "a mandate of any kind (documents, alerts, interpreting, pathways, procedures)"
            ),
        "{message}"
    );
}
