//! Entries of a link-time registry by name, with one error for a missing or repeated name.

use rustc_hash::FxHashMap;

use crate::error::{Error, Result};

/// The entries of a link-time slice by name. A name registered twice keeps every entry, so that
/// looking it up fails instead of picking one.
///
/// ```
/// use partita_runtime::NameIndex;
/// static ITEMS: [(&str, u32); 3] = [("a", 1), ("b", 2), ("b", 3)];
/// let index = NameIndex::new(&ITEMS, |item| item.0);
/// assert_eq!(index.get("item", "a")?.1, 1);
/// assert!(index.get("item", "b").unwrap_err().to_string().contains("more than once"));
/// assert!(index.get("item", "c").unwrap_err().to_string().contains("no item \"c\""));
/// # Ok::<(), partita_runtime::Error>(())
/// ```
#[derive(Debug)]
pub struct NameIndex<T: 'static> {
    by_name: FxHashMap<&'static str, Vec<&'static T>>,
}

impl<T: 'static> NameIndex<T> {
    /// Indexes `items` by `name`.
    pub fn new(items: &'static [T], name: fn(&T) -> &'static str) -> NameIndex<T> {
        let mut by_name: FxHashMap<&'static str, Vec<&'static T>> = FxHashMap::default();
        for item in items {
            by_name.entry(name(item)).or_default().push(item);
        }
        NameIndex { by_name }
    }

    /// The one entry named `name`; `what` names the kind of entry in the error.
    ///
    /// # Errors
    /// [`Error::Wire`] if no entry, or more than one, has that name.
    pub fn get(&self, what: &str, name: &str) -> Result<&'static T> {
        match self.by_name.get(name).map(Vec::as_slice) {
            Some([one]) => Ok(one),
            Some(many) => Err(Error::wire(format!(
                "{what} {name:?} is registered more than once ({} times) in this executable",
                many.len()
            ))),
            None => Err(Error::wire(format!(
                "no {what} {name:?} in this executable"
            ))),
        }
    }

    /// The names registered more than once, sorted.
    pub fn duplicates(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self
            .by_name
            .iter()
            .filter(|(_, v)| v.len() > 1)
            .map(|(k, _)| *k)
            .collect();
        names.sort_unstable();
        names
    }
}
