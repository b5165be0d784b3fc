//! Operator tools: the event log, the vault's clean-up, places files, surveys, backups.

pub mod backup;
pub mod bus;
pub mod directory;
pub mod survey;
pub mod vault;
