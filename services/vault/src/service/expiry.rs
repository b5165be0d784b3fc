//! Expiring documents: the index by notice day, and the reminder events.

use super::*;

impl Vault {
    // ----- expiry ---------------------------------------------------------------------------

    /// The index row that finds a document on the day its reminder is due (today, when that
    /// day has already passed).
    /// It lives until a week past its day (the announcer looks back a week), then goes.
    pub(super) fn expiry_index(&self, doc: &Document) -> Option<Mutation> {
        let (day, key) = self.expiry_slot(doc)?;
        let today = self.today().to_julian_day();
        let keep_days = i64::from(day - today).max(0) + 8;
        Some(Mutation::Put(
            Row::new(EXPIRY_INDEX, day.to_string(), key, Vec::new())
                .with_ttl(Duration::from_secs((keep_days * 86_400) as u64)),
        ))
    }

    /// Where a document's expiry index row is: its day and key.
    pub(super) fn expiry_slot(&self, doc: &Document) -> Option<(i32, String)> {
        let expires = doc.expires_on?;
        let day = self.notice_day(expires).max(self.today().to_julian_day());
        Some((day, format!("{}/{}", doc.owner_id, doc.id)))
    }

    /// The day (Julian) the reminder of a document expiring on `expires` is due. In days, not
    /// dates, so no setting or stored date can overflow.
    pub(super) fn notice_day(&self, expires: Date) -> i32 {
        let days = i32::try_from(self.limits.expiry_notice_days).unwrap_or(i32::MAX);
        expires.to_julian_day().saturating_sub(days)
    }

    /// Sends `DocumentExpiring` for documents whose reminder day has come, once each.
    pub async fn announce_expiring(&self) -> Result<usize, ServiceError> {
        let today = self.today().to_julian_day();
        let mut announced = 0;
        for day in (today - 7)..=today {
            let mut range = KeyRange::all();
            loop {
                let page = self
                    .store
                    .scan(EXPIRY_INDEX, &day.to_string(), &range, 500)
                    .await?;
                for (ck, _) in &page.rows {
                    let Some((owner, doc_id)) = ck.split_once('/') else {
                        continue;
                    };
                    let Some(read) = DOCUMENT_ROWS.read(&*self.store, owner, doc_id).await? else {
                        continue;
                    };
                    let doc = &read.value;
                    let due = doc.expires_on.is_some_and(|e| self.notice_day(e) <= today);
                    if doc.expiry_announced || doc.obsolete || !due {
                        continue;
                    }
                    let next = Document {
                        expiry_announced: true,
                        ..doc.clone()
                    };
                    let claimed = DOCUMENT_ROWS
                        .replace(&*self.store, (owner, doc_id), &read, next, None)
                        .await?;
                    let Some(claimed) = claimed else {
                        continue;
                    };
                    let doc = claimed.value;
                    self.commit(vec![self.outbox.event(
                        owner,
                        &events::DocumentExpiring {
                            owner_id: owner.to_owned(),
                            document_id: doc.id.clone(),
                            document_type: doc.kind.as_str().to_owned(),
                            expires_on: crate::domain::format_date(doc.expires_on),
                            announced_at: Some(passerelle_proto::prost_types::Timestamp {
                                seconds: self.now(),
                                nanos: 0,
                            }),
                        },
                    )])
                    .await?;
                    announced += 1;
                }
                match page.next {
                    Some(next) => range = next,
                    None => break,
                }
            }
        }
        Ok(announced)
    }
}
