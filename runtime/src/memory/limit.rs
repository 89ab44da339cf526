//! How much memory this process may use: the cgroup's limit, or the machine's memory.

/// The memory limit a runtime or a worker has by default: 80% of [`system_memory`].
///
/// ```
/// assert!(partita_runtime::default_memory_limit() < partita_runtime::system_memory());
/// ```
pub fn default_memory_limit() -> u64 {
    (system_memory() as f64 * super::DEFAULT_LIMIT_FRACTION) as u64
}

/// The bytes this process may use: the smaller of the cgroup's memory limit (v2
/// `memory.max`, or v1 `memory.limit_in_bytes`) and the machine's memory (`MemTotal` in
/// `/proc/meminfo`). Where neither can be read, 4 GiB.
///
/// ```
/// assert!(partita_runtime::system_memory() > 0);
/// ```
pub fn system_memory() -> u64 {
    const FALLBACK: u64 = 4 << 30;
    let physical = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| mem_total(&s));
    let cgroup = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .find_map(|p| {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|s| cgroup_limit(&s))
    });
    match (physical, cgroup) {
        (Some(p), Some(c)) => p.min(c),
        (Some(p), None) => p,
        (None, Some(c)) => c,
        (None, None) => FALLBACK,
    }
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes.
pub(super) fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut parts = line.split_whitespace().skip(1);
    let n: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") | None => n.checked_mul(1024),
        Some(_) => None,
    }
}

/// A cgroup's limit, or `None` for `max` and for v1's "no limit" (a number near `u64::MAX`).
pub(super) fn cgroup_limit(text: &str) -> Option<u64> {
    let n: u64 = text.trim().parse().ok()?;
    (n < (1 << 60)).then_some(n)
}

/// Reads a size as people write it: `2GiB`, `512 MiB`, `1.5GB`, `64k`, `1e9` or a plain number
/// of bytes. Units are case-insensitive; `k`, `m`, `g` and `t` alone are powers of 1024.
///
/// ```
/// use partita_runtime::parse_bytes;
/// assert_eq!(parse_bytes("2GiB"), Some(2 << 30));
/// assert_eq!(parse_bytes("1.5 GB"), Some(1_500_000_000));
/// assert_eq!(parse_bytes("64k"), Some(64 << 10));
/// assert_eq!(parse_bytes("1e9"), Some(1_000_000_000));
/// assert_eq!(parse_bytes("lots"), None);
/// ```
pub fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number.trim().parse().ok()?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "m" | "mib" => 1024.0 * 1024.0,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tib" => 1024.0f64.powi(4),
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        _ => return None,
    };
    let bytes = n * scale;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then(|| bytes.round() as u64)
}
