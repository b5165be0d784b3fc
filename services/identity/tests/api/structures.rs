//! The registry of structures: accounts and mandates name only registered structures, people
//! read their names, and only admins change the registry.

use passerelle_proto::identity::v1 as pb;
use tonic::Code;

use crate::helpers::spawn_app;

fn structure(id: &str, name: &str, kind: pb::StructureKind) -> pb::SaveStructureRequest {
    pb::SaveStructureRequest {
        structure: Some(pb::Structure {
            id: id.into(),
            display_name: name.into(),
            kind: kind as i32,
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mandates_and_accounts_name_only_registered_structures() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let agent = {
        app.create(&admin, pb::Role::Agent, "agent-nord", "ccas-nord", "")
            .await;
        app.token_of("agent-nord").await
    };
    let (person, _) = app
        .create(&agent, pb::Role::Beneficiary, "leila-registry", "", "")
        .await;
    let person_token = app.token_of("leila-registry").await;

    // A self-service mandate to a structure nobody registered is refused, saying which exist.
    let grant = |structure: &str| pb::GrantMandateRequest {
        beneficiary_id: person.id.clone(),
        structure: structure.into(),
        scopes: vec![pb::Scope::Documents as i32],
        duration: pb::MandateDuration::OneMonth as i32,
        ..Default::default()
    };
    let refused = app
        .client(Some(&person_token))
        .grant_mandate(grant("nowhere"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(
        refused
            .message()
            .contains("structure `nowhere` is not registered")
            && refused.message().contains("ccas-nord"),
        "{}",
        refused.message()
    );
    let mandates = app
        .client(Some(&person_token))
        .list_mandates(pb::ListMandatesRequest {
            beneficiary_id: person.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .mandates;
    assert!(mandates.is_empty(), "no mandate was made: {mandates:?}");

    // Nor may an admin make staff of an unknown structure.
    let unknown = app
        .client(Some(&admin))
        .create_account(pb::CreateAccountRequest {
            role: pb::Role::Agent as i32,
            username: "agent-nowhere".into(),
            given_name: "Ali".into(),
            family_name: "Ben".into(),
            secret: "a long passphrase".into(),
            structure: "nowhere".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::InvalidArgument, "{unknown:?}");
    assert!(
        unknown.message().contains("is not registered"),
        "{}",
        unknown.message()
    );

    // Registered, it is named by its name in the mandate the person reads.
    app.client(Some(&admin))
        .save_structure(structure(
            "pimms-amiens",
            "  PIMMS  d'Amiens ",
            pb::StructureKind::Association,
        ))
        .await
        .unwrap();
    let mandate = app
        .client(Some(&person_token))
        .grant_mandate(grant("PIMMS-Amiens"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(mandate.structure, "pimms-amiens");
    assert_eq!(mandate.structure_name, "PIMMS d'Amiens");
    assert!(
        mandate
            .summary
            .starts_with("Vous autorisez PIMMS d'Amiens à"),
        "{}",
        mandate.summary
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everyone_signed_in_lists_structures_and_only_admins_change_them() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.create(&admin, pb::Role::Manager, "manager-nord", "ccas-nord", "")
        .await;
    let manager = app.token_of("manager-nord").await;
    app.create(&manager, pb::Role::Agent, "agent-nord", "ccas-nord", "")
        .await;
    let agent = app.token_of("agent-nord").await;
    let (_, _) = app
        .create(&agent, pb::Role::Beneficiary, "paul-registry", "", "")
        .await;
    let person = app.token_of("paul-registry").await;

    for token in [&admin, &manager, &agent, &person] {
        let listed = app
            .client(Some(token))
            .list_structures(pb::ListStructuresRequest {})
            .await
            .unwrap()
            .into_inner()
            .structures;
        let names: Vec<&str> = listed.iter().map(|s| s.display_name.as_str()).collect();
        assert!(
            names.contains(&"CCAS d'Amiens, antenne Nord")
                && names.contains(&"Passerelle (administration)"),
            "{names:?}"
        );
        let mut sorted = names.clone();
        sorted.sort_by_key(|n| n.to_lowercase());
        assert_eq!(names, sorted, "by name");
    }
    let anonymous = app
        .client(None)
        .list_structures(pb::ListStructuresRequest {})
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);

    let save = structure("ccas-nord", "Pris par un autre", pb::StructureKind::Ccas);
    for token in [&manager, &agent, &person] {
        let refused = app
            .client(Some(token))
            .save_structure(save.clone())
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    }
    for (bad, why) in [
        (
            structure("ccas nord", "x", pb::StructureKind::Ccas),
            "is not accepted",
        ),
        (
            structure("ccas-nord", " ", pb::StructureKind::Ccas),
            "display name",
        ),
        (
            structure("ccas-nord", "CCAS", pb::StructureKind::Unspecified),
            "kind is required",
        ),
    ] {
        let refused = app
            .client(Some(&admin))
            .save_structure(bad)
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
        assert!(refused.message().contains(why), "{}", refused.message());
    }
    // A rename keeps the id: accounts and mandates still name it.
    let renamed = app
        .client(Some(&admin))
        .save_structure(structure(
            "ccas-nord",
            "CCAS d'Amiens, pôle Nord",
            pb::StructureKind::Ccas,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(renamed.id, "ccas-nord");
    let listed = app
        .client(Some(&agent))
        .list_structures(pb::ListStructuresRequest {})
        .await
        .unwrap()
        .into_inner()
        .structures;
    assert!(
        listed
            .iter()
            .any(|s| s.id == "ccas-nord" && s.display_name == "CCAS d'Amiens, pôle Nord")
    );
}
