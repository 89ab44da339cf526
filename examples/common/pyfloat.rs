//! Checksums printed as the peer scripts print them.

/// Python's `repr(float(f"{x:.15g}"))`, as the peer scripts print checksums.
pub(crate) fn fmt_float(x: f64) -> String {
    let rounded: f64 = format!("{x:.14e}").parse().unwrap_or(x);
    let s = format!("{rounded}");
    if s.contains('.') || s.contains('e') {
        s
    } else {
        format!("{s}.0")
    }
}
