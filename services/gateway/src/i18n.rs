//! The words of the web front, in French first and in English, from the Fluent files under
//! `locales/` (bundled in the binary). No user-facing sentence is written in Rust code: pages
//! name a message, the person's language picks its words.

use std::borrow::Cow;
use std::collections::HashMap;

use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader, langid, static_loader};
use http::HeaderMap;

static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "fr",
        // No Unicode isolation marks around arguments: they would show in plain-text copies.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

/// The cookie remembering the language chosen.
pub const LANG_COOKIE: &str = "passerelle_lang";

/// A language of the web front.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lang {
    #[default]
    Fr,
    En,
}

static FR: LanguageIdentifier = langid!("fr");
static EN: LanguageIdentifier = langid!("en");

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        match code.trim().to_ascii_lowercase().get(..2) {
            Some("fr") => Some(Lang::Fr),
            Some("en") => Some(Lang::En),
            _ => None,
        }
    }

    /// The other language, for the switch.
    pub fn other(self) -> Lang {
        match self {
            Lang::Fr => Lang::En,
            Lang::En => Lang::Fr,
        }
    }

    fn id(self) -> &'static LanguageIdentifier {
        match self {
            Lang::Fr => &FR,
            Lang::En => &EN,
        }
    }

    /// The language chosen (cookie), else the browser's first known one, else French.
    pub fn of(headers: &HeaderMap) -> Lang {
        if let Some(chosen) =
            crate::page::cookie(headers, LANG_COOKIE).and_then(|c| Lang::parse(&c))
        {
            return chosen;
        }
        headers
            .get(http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|accepted| {
                accepted
                    .split(',')
                    .map(|part| part.split(';').next().unwrap_or_default())
                    .find_map(Lang::parse)
            })
            .unwrap_or_default()
    }
}

/// Translates message ids in one language; what templates call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tr(pub Lang);

impl Tr {
    pub fn lang(&self) -> &'static str {
        self.0.code()
    }

    /// The message `id`. A missing message shows its id (and the tests fail on it).
    pub fn t(&self, id: &str) -> String {
        LOCALES
            .try_lookup(self.0.id(), id)
            .unwrap_or_else(|| id.to_owned())
    }

    /// The message `id` with one argument.
    pub fn t1(&self, id: &str, name: &'static str, value: impl ToString) -> String {
        let mut args: HashMap<Cow<'static, str>, FluentValue<'_>> = HashMap::new();
        args.insert(Cow::Borrowed(name), FluentValue::from(value.to_string()));
        LOCALES
            .try_lookup_with_args(self.0.id(), id, &args)
            .unwrap_or_else(|| id.to_owned())
    }

    /// The message `id` with a number (plural forms choose by it).
    pub fn n(&self, id: &str, name: &'static str, value: i64) -> String {
        let mut args: HashMap<Cow<'static, str>, FluentValue<'_>> = HashMap::new();
        args.insert(Cow::Borrowed(name), FluentValue::from(value));
        LOCALES
            .try_lookup_with_args(self.0.id(), id, &args)
            .unwrap_or_else(|| id.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(ftl: &str) -> Vec<String> {
        ftl.lines()
            .filter(|l| !l.starts_with([' ', '#', '.', '\t', '*', '[', '}']))
            .filter_map(|l| l.split_once(" =").map(|(id, _)| id.trim().to_owned()))
            .filter(|id| !id.is_empty())
            .collect()
    }

    #[test]
    fn both_languages_have_every_message() {
        let fr = ids(include_str!("../locales/fr/main.ftl"));
        let en = ids(include_str!("../locales/en/main.ftl"));
        assert!(fr.len() > 50, "{} messages", fr.len());
        let missing_en: Vec<_> = fr.iter().filter(|id| !en.contains(id)).collect();
        let missing_fr: Vec<_> = en.iter().filter(|id| !fr.contains(id)).collect();
        assert!(missing_en.is_empty(), "missing in English: {missing_en:?}");
        assert!(missing_fr.is_empty(), "missing in French: {missing_fr:?}");
        for id in &fr {
            for lang in [Lang::Fr, Lang::En] {
                // Every argument a message may take, so each resolves whole.
                let mut args: HashMap<Cow<'static, str>, FluentValue<'_>> = HashMap::new();
                for name in ["time", "date", "minutes", "count", "size", "who", "name"] {
                    args.insert(Cow::Borrowed(name), FluentValue::from(1));
                }
                let text = LOCALES.try_lookup_with_args(lang.id(), id, &args);
                assert!(text.is_some(), "{id} does not resolve in {lang:?}");
            }
        }
    }

    #[test]
    fn the_language_is_chosen_then_asked_then_french() {
        let mut headers = HeaderMap::new();
        assert_eq!(Lang::of(&headers), Lang::Fr);
        headers.insert("accept-language", "de-DE,en-GB;q=0.8".parse().unwrap());
        assert_eq!(Lang::of(&headers), Lang::En);
        headers.insert("cookie", "passerelle_lang=fr".parse().unwrap());
        assert_eq!(Lang::of(&headers), Lang::Fr);
        assert_eq!(Tr(Lang::En).n("papers-count", "count", 1), "1 document");
        assert_eq!(Tr(Lang::Fr).n("papers-count", "count", 3), "3 documents");
    }
}
