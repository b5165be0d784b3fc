//! Server-side sessions. The browser holds only a random id in an `HttpOnly` cookie; the
//! session — who is signed in, their token, a CSRF token — is in the store under the id's
//! SHA-256, sealed with the master key (a copy of the store opens no session). A session ends
//! after `idle` without a click (the row's time to live, renewed as the person clicks), `max`
//! after signing in whatever happens, at sign-out, and everywhere at once on "sign out
//! everywhere".

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use passerelle_kit::ServiceError;
use passerelle_kit::clock::DynClock;
use passerelle_kit::secrets::{MasterKey, random};
use passerelle_store::{DynStore, KeyRange, Mutation, Row};
use serde::{Deserialize, Serialize};

const SESSIONS: &str = "web_sessions";
/// A person's sessions: partition = account id, clustering = session key.
const BY_PERSON: &str = "web_sessions_by_person";
/// A session's `last_seen` is written again at most this often (each click would be a write),
/// and at most every tenth of the idle time, so a session never ends much before its idle time
/// after the last click.
const TOUCH_EVERY: i64 = 30;

/// Who is signed in, and what the web front needs to act for them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub subject: String,
    /// As the person signs in (`soleil-lavande-4821`), to greet them.
    pub username: String,
    pub roles: Vec<String>,
    pub structure: Option<String>,
    pub token: String,
    pub token_expires_at: i64,
    /// With Keycloak: its refresh token.
    pub refresh_token: Option<String>,
    pub signed_in_at: i64,
    pub last_seen: i64,
    /// Every form of the session carries it; a form without it is refused.
    pub csrf: String,
}

impl Session {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Staff: agents, managers, admins.
    pub fn is_staff(&self) -> bool {
        ["agent", "manager", "admin"]
            .iter()
            .any(|r| self.has_role(r))
    }
}

/// What a new session is made of.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub subject: String,
    pub username: String,
    pub roles: Vec<String>,
    pub structure: Option<String>,
    pub token: String,
    pub token_expires_at: i64,
    pub refresh_token: Option<String>,
    pub signed_in_at: i64,
}

/// The sessions of the web front.
#[derive(Clone)]
pub struct Sessions {
    store: DynStore,
    master: MasterKey,
    clock: DynClock,
    idle: Duration,
    max: Duration,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("idle", &self.idle)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

/// A random token for a cookie or a form: 256 bits, URL-safe.
pub fn random_token() -> Result<String, ServiceError> {
    let bytes: [u8; 32] = random()?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The store key of a session id: its SHA-256, so the store never holds a usable id.
fn key_of(id: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, id.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Constant-time comparison of two tokens.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Sessions {
    pub fn new(
        store: DynStore,
        master: MasterKey,
        clock: DynClock,
        idle: Duration,
        max: Duration,
    ) -> Self {
        Self {
            store,
            master,
            clock,
            idle,
            max,
        }
    }

    pub fn idle(&self) -> Duration {
        self.idle
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    fn row(&self, key: &str, session: &Session) -> Result<Row, ServiceError> {
        let json = serde_json::to_vec(session).map_err(ServiceError::internal)?;
        let sealed = self.master.seal(&format!("web-session:{key}"), &json)?;
        Ok(Row::new(SESSIONS, key, "", sealed).with_ttl(self.idle))
    }

    /// Opens a session; returns the id for the cookie.
    pub async fn create(&self, new: NewSession) -> Result<(String, Session), ServiceError> {
        let id = random_token()?;
        let key = key_of(&id);
        let now = self.now();
        let session = Session {
            subject: new.subject,
            username: new.username,
            roles: new.roles,
            structure: new.structure,
            token: new.token,
            token_expires_at: new.token_expires_at,
            refresh_token: new.refresh_token,
            signed_in_at: new.signed_in_at,
            last_seen: now,
            csrf: random_token()?,
        };
        self.store
            .batch(vec![
                Mutation::Put(self.row(&key, &session)?),
                Mutation::Put(
                    Row::new(BY_PERSON, &session.subject, &key, Vec::new()).with_ttl(self.max),
                ),
            ])
            .await?;
        Ok((id, session))
    }

    /// The live session of this id: `None` when unknown, ended, idle too long or too old.
    pub async fn load(&self, id: &str) -> Result<Option<Session>, ServiceError> {
        let key = key_of(id);
        let Some(sealed) = self.store.get(SESSIONS, &key, "").await? else {
            return Ok(None);
        };
        let Ok(json) = self.master.open(&format!("web-session:{key}"), &sealed) else {
            // Sealed with another key (the key was rotated): a stale session, not an error.
            return Ok(None);
        };
        let session: Session = serde_json::from_slice(&json).map_err(ServiceError::internal)?;
        let now = self.now();
        let idle = i64::try_from(self.idle.as_secs()).unwrap_or(i64::MAX);
        let max = i64::try_from(self.max.as_secs()).unwrap_or(i64::MAX);
        if now - session.last_seen > idle || now - session.signed_in_at > max {
            self.end(id).await?;
            return Ok(None);
        }
        Ok(Some(session))
    }

    /// Notes a click: the idle clock starts again (written at most every half minute, or every
    /// tenth of the idle time when that is shorter).
    pub async fn touch(&self, id: &str, session: &mut Session) -> Result<(), ServiceError> {
        let now = self.now();
        let every = i64::try_from(self.idle.as_secs() / 10)
            .unwrap_or(TOUCH_EVERY)
            .clamp(1, TOUCH_EVERY);
        if now - session.last_seen < every {
            return Ok(());
        }
        session.last_seen = now;
        self.save(id, session).await
    }

    /// Writes a changed session (a renewed token).
    pub async fn save(&self, id: &str, session: &Session) -> Result<(), ServiceError> {
        self.store.put(self.row(&key_of(id), session)?).await?;
        Ok(())
    }

    /// Ends this session.
    pub async fn end(&self, id: &str) -> Result<(), ServiceError> {
        self.store.delete(SESSIONS, &key_of(id), "").await?;
        Ok(())
    }

    /// Ends every session of `subject`, on every device.
    pub async fn end_all(&self, subject: &str) -> Result<usize, ServiceError> {
        let mut batch = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let range = match &after {
                Some(last) => KeyRange::all().after(last),
                None => KeyRange::all(),
            };
            let page = self.store.scan(BY_PERSON, subject, &range, 500).await?;
            for (key, _) in &page.rows {
                batch.push(Mutation::delete(SESSIONS, key, ""));
                batch.push(Mutation::delete(BY_PERSON, subject, key));
            }
            match page.rows.last() {
                Some((key, _)) if page.rows.len() == 500 => after = Some(key.clone()),
                _ => break,
            }
        }
        let ended = batch.len() / 2;
        for chunk in batch.chunks(200) {
            self.store.batch(chunk.to_vec()).await?;
        }
        Ok(ended)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use passerelle_kit::clock::ManualClock;

    use super::*;

    fn sessions(clock: Arc<ManualClock>) -> (Sessions, tempfile::TempDir) {
        sessions_idle(clock, 600)
    }

    fn sessions_idle(clock: Arc<ManualClock>, idle: u64) -> (Sessions, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            passerelle_store::sqlite::SqliteStore::open(&dir.path().join("s.db")).unwrap(),
        );
        let sessions = Sessions::new(
            store,
            MasterKey::generate().unwrap(),
            clock,
            Duration::from_secs(idle),
            Duration::from_secs(36_000),
        );
        (sessions, dir)
    }

    fn new_session(subject: &str, now: i64) -> NewSession {
        NewSession {
            subject: subject.into(),
            username: "camille".into(),
            roles: vec!["beneficiary".into()],
            structure: None,
            token: "token".into(),
            token_expires_at: now + 900,
            refresh_token: None,
            signed_in_at: now,
        }
    }

    #[tokio::test]
    async fn sessions_end_when_idle_too_long_or_too_old() {
        let clock = ManualClock::starting_now();
        let (sessions, _dir) = sessions(clock.clone());
        let now = passerelle_kit::clock::Clock::now(&*clock);
        let (id, mut session) = sessions.create(new_session("p1", now)).await.unwrap();
        assert_eq!(sessions.load(&id).await.unwrap().unwrap().subject, "p1");
        // Clicks keep it alive past the idle time...
        for _ in 0..5 {
            clock.advance(500);
            sessions.touch(&id, &mut session).await.unwrap();
            assert!(sessions.load(&id).await.unwrap().is_some());
        }
        // ...but not past idle without a click,
        clock.advance(601);
        assert!(sessions.load(&id).await.unwrap().is_none());
        // nor past the longest life, clicks or not.
        let now = passerelle_kit::clock::Clock::now(&*clock);
        let (id, mut session) = sessions.create(new_session("p1", now)).await.unwrap();
        for _ in 0..73 {
            clock.advance(500);
            sessions.touch(&id, &mut session).await.unwrap();
        }
        assert!(sessions.load(&id).await.unwrap().is_none());
        assert!(sessions.load("forged").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_short_idle_time_counts_from_the_last_click() {
        // A shared computer set to end sessions after 45 s without a click: a click 29 s in
        // must keep the session alive until 45 s after that click, not after the sign-in.
        let clock = ManualClock::starting_now();
        let (sessions, _dir) = sessions_idle(clock.clone(), 45);
        let now = passerelle_kit::clock::Clock::now(&*clock);
        let (id, mut session) = sessions.create(new_session("p1", now)).await.unwrap();
        clock.advance(29);
        sessions.touch(&id, &mut session).await.unwrap();
        clock.advance(40);
        assert!(
            sessions.load(&id).await.unwrap().is_some(),
            "the session ended 40 s after a click, with 45 s allowed"
        );
        clock.advance(10);
        assert!(sessions.load(&id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn signing_out_everywhere_ends_every_device() {
        let clock = ManualClock::starting_now();
        let (sessions, _dir) = sessions(clock.clone());
        let now = passerelle_kit::clock::Clock::now(&*clock);
        let (a, _) = sessions.create(new_session("p1", now)).await.unwrap();
        let (b, _) = sessions.create(new_session("p1", now)).await.unwrap();
        let (other, _) = sessions.create(new_session("p2", now)).await.unwrap();
        assert_eq!(sessions.end_all("p1").await.unwrap(), 2);
        assert!(sessions.load(&a).await.unwrap().is_none());
        assert!(sessions.load(&b).await.unwrap().is_none());
        assert!(sessions.load(&other).await.unwrap().is_some());
        assert!(same_token("abc", "abc") && !same_token("abc", "abd") && !same_token("a", "ab"));
    }
}
