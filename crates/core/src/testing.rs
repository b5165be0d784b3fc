//! Settings the tests of every crate share (feature `testsuite`, never in production builds).

use proptest::test_runner::Config;

/// Property tests' settings: `default` cases unless `PROPTEST_CASES` says how many (a few
/// hundred in the test suite, thousands in `scripts/fuzz.sh`), and no failure files written
/// into the source tree.
pub fn proptest_config(default: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}
