//! The register: who is taken, what is refused and why, concurrent registrations, staff reads
//! in the trail, sectors, the prefect's export.

use passerelle_access::Access;
use passerelle_alerts::service::register_trail;
use passerelle_proto::alerts::v1 as pb;
use tonic::Code;

use crate::helpers::{jeanne, own, someone, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_registers_sees_corrects_and_leaves_the_register() {
    let app = spawn_app().await;
    let mut me = app.person("jeanne");
    let registered = me.register(own(jeanne())).await.unwrap().into_inner();
    assert_eq!(registered.account_id, "jeanne");
    assert_eq!(
        (registered.sector.as_str(), registered.structure.as_str()),
        ("nord", "ccas-nord")
    );
    let person = registered.person.clone().unwrap();
    assert_eq!(person.phones, ["+33322971010"]);
    let again = me.register(own(jeanne())).await.unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists, "{again:?}");

    let mine = me
        .my_registration(pb::MyRegistrationRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mine.id, registered.id);
    let moved = me
        .update_registration(pb::UpdateRegistrationRequest {
            registration_id: registered.id.clone(),
            person: Some(pb::Person {
                address: Some(pb::Address {
                    line: "3 place Vogel".into(),
                    postcode: "80090".into(),
                    commune: "Amiens".into(),
                }),
                ..jeanne()
            }),
            sector: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (moved.sector.as_str(), moved.structure.as_str()),
        ("sud", "ccas-sud")
    );
    // The keeping structure follows the address.
    let nord = app
        .agent("ccas-nord")
        .get_registration(pb::GetRegistrationRequest {
            registration_id: moved.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(nord.code(), Code::PermissionDenied, "{nord:?}");
    app.agent("ccas-sud")
        .get_registration(pb::GetRegistrationRequest {
            registration_id: moved.id.clone(),
        })
        .await
        .unwrap();

    me.leave_register(pb::LeaveRegisterRequest {
        registration_id: moved.id.clone(),
    })
    .await
    .unwrap();
    let gone = me
        .my_registration(pb::MyRegistrationRequest {})
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    let listed = app
        .agent("ccas-sud")
        .list_register(pb::ListRegisterRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.registrations.is_empty(), "{listed:?}");
    // Left for good: the same person may register again.
    me.register(own(jeanne())).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_registrations_are_refused_with_what_is_accepted_and_nothing_is_kept() {
    let app = spawn_app().await;
    let mut agent = app.agent("ccas-nord");
    let neighbour = pb::RegisterRequest {
        person: Some(jeanne()),
        registrant: pb::Registrant::ThirdParty as i32,
        third_party: pb::ThirdParty::Neighbour as i32,
        registrant_name: "Mme Roux".into(),
        ..Default::default()
    };
    let young = pb::Person {
        birth_date: "1970-01-01".into(),
        ..jeanne()
    };
    let elsewhere = pb::Person {
        address: Some(pb::Address {
            line: "1 rue de Rivoli".into(),
            postcode: "75001".into(),
            commune: "Paris".into(),
        }),
        ..jeanne()
    };
    let cases = [
        (
            neighbour.clone(),
            "consent is required when a third party registers",
        ),
        (own(young), "the register takes people 65 or over"),
        (
            own(elsewhere),
            "is in no sector of the city: give `sector`, one of nord, sud, centre, ouest",
        ),
        (
            pb::RegisterRequest {
                sector: "plage".into(),
                ..own(jeanne())
            },
            "sector `plage` is not one of the city's",
        ),
        (
            pb::RegisterRequest {
                registrant: 9,
                ..own(jeanne())
            },
            "registrant 9 is not accepted: expected SELF, LEGAL_REPRESENTATIVE or THIRD_PARTY",
        ),
        (
            own(pb::Person {
                phones: vec![],
                ..jeanne()
            }),
            "at least one phone number is required",
        ),
    ];
    for (request, expected) in cases {
        let refused = agent.register(request).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
        assert!(
            refused.message().contains(expected),
            "`{expected}` not in {}",
            refused.message()
        );
    }
    // Nothing of the refused ones was kept: the same person registers at once, with consent.
    let consented = pb::RegisterRequest {
        consent: Some(pb::Consent {
            form: pb::ConsentForm::Oral as i32,
            given_on: "2026-06-01".into(),
            recorded_by: "someone else".into(),
        }),
        ..neighbour
    };
    let kept = agent.register(consented).await.unwrap().into_inner();
    let consent = kept.consent.unwrap();
    assert_eq!(
        consent.recorded_by, "agent-ccas-nord",
        "the recorder is the caller"
    );
    assert_eq!(kept.registrant_name, "Mme Roux");
    let listed = agent
        .list_register(pb::ListRegisterRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.registrations.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_the_same_registration_keeps_one() {
    let app = spawn_app().await;
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let mut client = if i % 2 == 0 {
                app.agent("ccas-nord")
            } else {
                app.agent("ccas-sud")
            };
            tokio::spawn(async move {
                client
                    .register(own(jeanne()))
                    .await
                    .map(|r| r.into_inner().id)
            })
        })
        .collect();
    let mut kept = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(id) => kept.push(id),
            Err(status) => assert_eq!(status.code(), Code::AlreadyExists, "{status:?}"),
        }
    }
    assert_eq!(kept.len(), 1, "{kept:?}");
    let listed = app
        .agent("ccas-nord")
        .list_register(pb::ListRegisterRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.registrations.len(), 1);
}

/// A claim on a person left by a crash between the claim and the registration's write is taken
/// over once it is older than a minute; a younger one is a registration being written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_left_by_a_crash_does_not_lock_the_person_out() {
    let app = spawn_app().await;
    let key = "lefevre|jeanne|1941-07-15";
    let claim = |at: i64| {
        passerelle_store::Row::new(
            "alerts_people",
            key,
            "",
            format!(r#"{{"id":"in-flight","at":{at}}}"#).into_bytes(),
        )
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    app.store.put(claim(now)).await.unwrap();
    let busy = app
        .agent("ccas-nord")
        .register(own(jeanne()))
        .await
        .unwrap_err();
    assert_eq!(busy.code(), Code::AlreadyExists, "{busy:?}");
    app.store.put(claim(now - 3600)).await.unwrap();
    app.agent("ccas-nord")
        .register(own(jeanne()))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_reads_are_in_the_trail_and_pages_cover_the_register_once() {
    let app = spawn_app().await;
    let mut agent = app.agent("ccas-nord");
    let mut ids = Vec::new();
    for n in 0..7 {
        ids.push(
            agent
                .register(own(someone(n)))
                .await
                .unwrap()
                .into_inner()
                .id,
        );
    }
    // Someone of another sector is not in this register.
    app.agent("ccas-sud")
        .register(own(pb::Person {
            address: Some(pb::Address {
                line: "3 place Vogel".into(),
                postcode: "80090".into(),
                commune: "Amiens".into(),
            }),
            ..someone(99)
        }))
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = agent
            .list_register(pb::ListRegisterRequest {
                page_size: 3,
                page_token: token.clone(),
                sectors: vec!["nord".into()],
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        seen.extend(page.registrations.into_iter().map(|r| r.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 7, "{seen:?}");
    ids.sort();
    assert_eq!(sorted, ids);

    let access = Access::new(app.store.clone());
    agent
        .get_registration(pb::GetRegistrationRequest {
            registration_id: ids[0].clone(),
        })
        .await
        .unwrap();
    let trail = access.trail(&ids[0], None, 50).await.unwrap().0;
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "alerts.Register",
            "alerts.ListRegister",
            "alerts.GetRegistration"
        ],
        "{trail:?}"
    );
    assert!(trail.iter().all(|e| e.actor == "agent-ccas-nord"));
    let foreign = agent
        .list_register(pb::ListRegisterRequest {
            sectors: vec!["sud".into()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        foreign
            .message()
            .contains("is not one of ccas-nord's: expected one of nord"),
        "{foreign:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_exports_the_decree_fields_for_the_prefect() {
    let app = spawn_app().await;
    let mut agent = app.agent("ccas-nord");
    agent
        .register(own(pb::Person {
            home_care_service: "ADMR Amiens; antenne nord".into(),
            emergency_contact: Some(pb::Contact {
                name: "Paul Lefèvre".into(),
                phone: "06 12 34 56 78".into(),
            }),
            ..jeanne()
        }))
        .await
        .unwrap();
    agent.register(own(someone(1))).await.unwrap();
    let refused = agent
        .export_register(pb::ExportRegisterRequest {
            reason: "canicule".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let mut manager = app.manager("ccas-nord");
    let no_reason = manager
        .export_register(pb::ExportRegisterRequest::default())
        .await
        .unwrap_err();
    assert_eq!(no_reason.code(), Code::InvalidArgument);
    let export = manager
        .export_register(pb::ExportRegisterRequest {
            reason: "plan canicule déclenché le 2026-07-14".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(export.rows, 2);
    let csv = String::from_utf8(export.csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert_eq!(lines[0], passerelle_alerts::domain::CSV_HEADER);
    assert!(
        lines[1].contains(";\"ADMR Amiens; antenne nord\";Paul Lefèvre;+33612345678;nord"),
        "{}",
        lines[1]
    );
    // Nothing beyond the decree's fields: no ids, no account, no registrant.
    assert!(!csv.contains("agent-ccas-nord"), "{csv}");
    let trail = Access::new(app.store.clone())
        .trail(&register_trail("ccas-nord"), None, 10)
        .await
        .unwrap()
        .0;
    assert_eq!(trail.len(), 1);
    assert_eq!(
        trail[0].detail,
        "2 registrations exported: plan canicule déclenché le 2026-07-14"
    );
    // Another structure's manager exports only their own register.
    let sud = app
        .manager("ccas-sud")
        .export_register(pb::ExportRegisterRequest {
            reason: "canicule".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(sud.rows, 0);
}
