//! The web front's cost on top of the services: a beneficiary's document list ("Mes papiers")
//! rendered through the gateway (session read and touched in the store, the vault's
//! `ListDocuments` over gRPC, the template) beside the same `ListDocuments` call made directly,
//! at 1 and 4 in flight, as a ratio; then the weight of each page (HTML, CSS, script and
//! pictograms) against the 100 KB budget.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use passerelle_benchkit::{compare, measure, section};
use passerelle_proto::vault::v1 as pb;
use passerelle_proto::vault::v1::vault_client::VaultClient;

const BUDGET: usize = 100 * 1024;
/// Papers on the list: a person's usual handful, and then some.
const PAPERS: usize = 20;

fn main() {
    passerelle_benchkit::block_on(async {
        let p = support::platform().await;
        let (person, first) = p.beneficiary_with_a_document().await;
        let token = p.token("camille", "482913").await;
        let kinds = [
            pb::DocumentType::IdentityCard,
            pb::DocumentType::ProofOfAddress,
            pb::DocumentType::TaxNotice,
            pb::DocumentType::Payslip,
            pb::DocumentType::CarteVitale,
        ];
        for i in 1..PAPERS {
            let expires = format!("2027-{:02}-15", i % 12 + 1);
            p.upload(
                &token,
                &person,
                &format!("Papier {i}"),
                kinds[i % kinds.len()],
                &expires,
            )
            .await;
        }
        let client = support::signed_in(&p.web, "camille", "482913").await;
        let page = client
            .get(format!("{}/mes-papiers", p.web))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        assert_eq!(
            page.text()
                .await
                .unwrap()
                .matches("href=\"/mes-papiers/")
                .count(),
            PAPERS
        );

        let vault = VaultClient::with_interceptor(p.vault.clone(), support::bearer(&token));
        section(&format!(
            "a list of {PAPERS} papers: through the web front vs ListDocuments over gRPC"
        ));
        for in_flight in [1, 4] {
            let direct = {
                let (vault, person) = (vault.clone(), person.clone());
                measure(
                    &format!("ListDocuments over gRPC, {in_flight} in flight"),
                    in_flight,
                    move |_| {
                        let (mut vault, person) = (vault.clone(), person.clone());
                        async move {
                            let list = vault
                                .list_documents(pb::ListDocumentsRequest {
                                    owner_id: person,
                                    ..Default::default()
                                })
                                .await
                                .unwrap()
                                .into_inner();
                            assert_eq!(list.documents.len(), PAPERS);
                        }
                    },
                )
                .await
            };
            let web = {
                let (client, url) = (client.clone(), format!("{}/mes-papiers", p.web));
                measure(
                    &format!("GET /mes-papiers, {in_flight} in flight"),
                    in_flight,
                    move |_| {
                        let (client, url) = (client.clone(), url.clone());
                        async move {
                            let response = client.get(&url).send().await.unwrap();
                            assert_eq!(response.status(), 200);
                            response.bytes().await.unwrap();
                        }
                    },
                )
                .await
            };
            compare(
                "the page through the web front vs the call alone",
                &direct,
                &web,
            );
        }

        section("page weight (what a browser downloads the first time) vs the 100 KB budget");
        let anonymous = support::browser();
        let agent = support::signed_in(&p.web, "agent-nord", "agent passphrase 1").await;
        let pages = [
            ("sign-in", "/connexion", &anonymous),
            ("PIN sign-in", "/connexion/code", &anonymous),
            ("open a share", "/partage", &anonymous),
            ("Mes papiers", "/mes-papiers", &client),
            ("one paper", &*format!("/mes-papiers/{first}"), &client),
            ("Qui m'aide", "/qui-m-aide", &client),
            ("Mon code", "/mon-code", &client),
            ("agent: find", "/personnes?q=camille", &agent),
            ("agent: person", &*format!("/personnes/{person}"), &agent),
            ("agent: new", "/personnes/nouvelle", &agent),
        ];
        println!(
            "  {:<14} {:>9} {:>9} {:>9} {:>9} {:>10}",
            "page", "HTML", "CSS", "script", "icons", "total"
        );
        let mut worst = 0;
        for (name, path, browser) in pages {
            let html = browser
                .get(format!("{}{path}", p.web))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let mut sizes = [html.len(), 0, 0, 0];
            for (slot, ext) in [(1, ".css"), (2, ".js"), (3, ".svg")] {
                for asset in assets(&html, ext) {
                    let body = browser
                        .get(format!("{}{asset}", p.web))
                        .send()
                        .await
                        .unwrap()
                        .bytes()
                        .await
                        .unwrap();
                    sizes[slot] += body.len();
                }
            }
            let total: usize = sizes.iter().sum();
            worst = worst.max(total);
            println!(
                "  {name:<14} {:>7.1}KB {:>7.1}KB {:>7.1}KB {:>7.1}KB {:>8.1}KB {}",
                kb(sizes[0]),
                kb(sizes[1]),
                kb(sizes[2]),
                kb(sizes[3]),
                kb(total),
                if total <= BUDGET { "within" } else { "OVER" }
            );
        }
        println!(
            "  => heaviest page: {:.1} KB of a {:.0} KB budget ({:.0} %)",
            kb(worst),
            kb(BUDGET),
            worst as f64 * 100.0 / BUDGET as f64
        );
    });
}

fn kb(bytes: usize) -> f64 {
    bytes as f64 / 1024.0
}

/// The distinct `/static/…` files of a page with this extension (the pictogram sheet is
/// referenced many times, fetched once).
fn assets(html: &str, ext: &str) -> Vec<String> {
    let mut found: Vec<String> = html
        .split("\"/static/")
        .skip(1)
        .filter_map(|rest| {
            let path = rest.split(['"', '#', '?']).next()?;
            path.ends_with(ext).then(|| format!("/static/{path}"))
        })
        .collect();
    found.sort();
    found.dedup();
    found
}
