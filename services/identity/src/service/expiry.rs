//! Mandates reaching their end: the index by day, and the `MandateExpired` events.

use super::*;

pub(super) const EXPIRY_INDEX: &str = "mandate_expiry";

/// The row that finds a mandate when its day comes: partition = day number, clustering =
/// `<expires_at>/<mandate id>`, value = beneficiary id.
///
/// The row lives until a week after the mandate's end (the announcer looks back a week), then
/// goes by itself: the index never grows into a list of everyone who ever had a mandate.
pub(super) fn expiry_index(mandate: &Mandate, now: i64) -> Mutation {
    let keep = (mandate.expires_at - now).max(0) + EXPIRY_LOOKBACK_DAYS * 86_400 + 86_400;
    Mutation::Put(
        Row::new(
            EXPIRY_INDEX,
            format!("{}", mandate.expires_at / 86_400),
            expiry_key(mandate),
            mandate.beneficiary_id.as_bytes().to_vec(),
        )
        .with_ttl(std::time::Duration::from_secs(keep as u64)),
    )
}

pub(super) fn expiry_key(mandate: &Mandate) -> String {
    format!("{:012}/{}", mandate.expires_at, mandate.id)
}

/// Days the expiry announcer looks back, so a stopped service catches up.
pub(super) const EXPIRY_LOOKBACK_DAYS: i64 = 7;

impl Identity {
    // ----- expiry ---------------------------------------------------------------------------

    /// Announces the mandates that ended (`MandateExpired`), once each. Runs on a schedule;
    /// safe to run from several replicas (an announcement is claimed before it is sent).
    pub async fn announce_expired_mandates(&self) -> Result<usize, ServiceError> {
        let now = self.now();
        let mut announced = 0;
        // Expiries are indexed by day; look back a week so a stopped service catches up.
        for day in (now / 86_400 - EXPIRY_LOOKBACK_DAYS)..=(now / 86_400) {
            let partition = format!("{day}");
            let rows = self.store.scan_all(EXPIRY_INDEX, &partition).await?;
            for (ck, beneficiary) in &rows {
                let Some((expires, mandate_id)) = ck.split_once('/') else {
                    continue;
                };
                if expires.parse::<i64>().unwrap_or(i64::MAX) > now {
                    continue;
                }
                let beneficiary = String::from_utf8_lossy(beneficiary).into_owned();
                let Some(mut mandate) = self.access.mandate(&beneficiary, mandate_id).await? else {
                    continue;
                };
                if mandate.expiry_announced
                    || mandate.revoked_at.is_some()
                    || mandate.expires_at > now
                {
                    continue;
                }
                let before = mandate.encode();
                mandate.expiry_announced = true;
                // Claim the announcement, then send it with the change.
                let claimed = self
                    .store
                    .compare_and_set(
                        Row::new(
                            passerelle_access::MANDATES_TABLE,
                            &beneficiary,
                            &mandate.id,
                            mandate.encode(),
                        ),
                        &before,
                    )
                    .await?;
                if !claimed {
                    continue;
                }
                self.commit(vec![self.outbox.event(
                    &beneficiary,
                    &events::MandateExpired {
                        mandate_id: mandate.id.clone(),
                        beneficiary_id: beneficiary.clone(),
                        structure: mandate.structure.clone(),
                    },
                )])
                .await?;
                announced += 1;
            }
        }
        Ok(announced)
    }
}
