//! The plan's network directory (SPEC §2.4): which billing providers are
//! in network on a date. In memory and pure; importing and storing it is
//! not done here.

use chrono::NaiveDate;
use rustc_hash::FxHashMap as HashMap;

/// Providers in the plan's network, each with the periods it is in.
/// An empty directory (none loaded) puts every provider in network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkDirectory {
    periods: HashMap<String, Vec<(NaiveDate, Option<NaiveDate>)>>,
    /// A directory is loaded although none of its rows is here: the
    /// store reads only the rows of the providers a submission bills
    /// under, and a provider with none is out of network.
    loaded: bool,
}

impl NetworkDirectory {
    /// An empty directory: everyone in network.
    pub fn new() -> Self {
        NetworkDirectory::default()
    }

    /// An empty directory that is nonetheless loaded: every provider not
    /// added afterwards is out of network. The store starts from this
    /// when its directory has rows, none of them perhaps of the providers
    /// it was asked about.
    pub fn loaded() -> Self {
        NetworkDirectory {
            periods: HashMap::default(),
            loaded: true,
        }
    }

    /// Adds a row: `npi` is in network from `start` to `end` (inclusive;
    /// None: open).
    pub fn add(&mut self, npi: &str, start: NaiveDate, end: Option<NaiveDate>) {
        self.periods
            .entry(npi.to_string())
            .or_default()
            .push((start, end));
    }

    /// True when no directory is loaded (no row, and not [`loaded`](Self::loaded)).
    pub fn is_empty(&self) -> bool {
        !self.loaded && self.periods.is_empty()
    }

    /// True when `npi` is in network on `date`: always with an empty
    /// directory; otherwise when a row of the NPI covers the date (with no
    /// date, when the NPI has any row).
    pub fn in_network(&self, npi: &str, date: Option<NaiveDate>) -> bool {
        if self.is_empty() {
            return true;
        }
        self.periods.get(npi).is_some_and(|rows| {
            rows.iter().any(|&(start, end)| match date {
                Some(d) => start <= d && end.map_or(true, |e| d <= e),
                None => true,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_directory_is_everyone_in_network() {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day);
        let mut dir = NetworkDirectory::new();
        assert!(dir.in_network("1234567893", d(3, 1)));
        dir.add("1234567893", d(1, 1).unwrap(), d(6, 30));
        dir.add("1111111112", d(1, 1).unwrap(), None);
        assert!(dir.in_network("1234567893", d(3, 1)));
        assert!(!dir.in_network("1234567893", d(7, 1)));
        assert!(dir.in_network("1111111112", d(12, 31)));
        assert!(!dir.in_network("9999999991", d(3, 1)));
    }

    #[test]
    fn a_loaded_directory_without_the_provider_puts_it_out_of_network() {
        let dir = NetworkDirectory::loaded();
        assert!(!dir.is_empty());
        assert!(!dir.in_network("1234567893", NaiveDate::from_ymd_opt(2026, 3, 1)));
    }
}
