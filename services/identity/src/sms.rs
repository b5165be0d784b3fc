//! SMS for consent codes: whatever gateway [`passerelle_sms`] reaches.

pub use passerelle_sms::SmsSender;
