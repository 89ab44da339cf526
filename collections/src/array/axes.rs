//! Which axes a reduction folds, and whether it keeps them.

/// The axes a reduction folds, and whether the result keeps them as length-1 axes (NumPy's
/// `keepdims`). Build one with [`axis`], [`Axes::list`], or [`Axes::All`].
///
/// ```
/// use partita_collections::{axis, Axes};
/// assert_eq!(axis(1).keepdims().resolve(3).unwrap(), (vec![1], true));
/// assert_eq!(Axes::All.resolve(2).unwrap(), (vec![0, 1], false));
/// assert_eq!(Axes::list(&[-1]).resolve(2).unwrap(), (vec![1], false));
/// assert!(axis(2).resolve(2).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Axes {
    /// Every axis.
    All,
    /// Every axis, keeping them as length 1.
    AllKeepDims,
    /// These axes (negative counts from the end), and whether to keep them.
    Some {
        /// The axes; negative ones count from the last.
        axes: Vec<isize>,
        /// Keep the folded axes as length 1.
        keepdims: bool,
    },
}

/// One axis to fold (negative counts from the end).
pub fn axis(a: isize) -> Axes {
    Axes::Some {
        axes: vec![a],
        keepdims: false,
    }
}

impl Axes {
    /// Several axes to fold.
    pub fn list(axes: &[isize]) -> Axes {
        Axes::Some {
            axes: axes.to_vec(),
            keepdims: false,
        }
    }

    /// The same axes, kept as length 1 in the result.
    pub fn keepdims(self) -> Axes {
        match self {
            Axes::All | Axes::AllKeepDims => Axes::AllKeepDims,
            Axes::Some { axes, .. } => Axes::Some {
                axes,
                keepdims: true,
            },
        }
    }

    /// The sorted, distinct axes for an array of `ndim` axes, and whether to keep them.
    ///
    /// # Errors
    /// [`Error::Shape`](crate::Error::Shape) naming an axis out of range.
    pub fn resolve(&self, ndim: usize) -> crate::Result<(Vec<usize>, bool)> {
        match self {
            Axes::All => Ok(((0..ndim).collect(), false)),
            Axes::AllKeepDims => Ok(((0..ndim).collect(), true)),
            Axes::Some { axes, keepdims } => {
                let mut out = Vec::with_capacity(axes.len());
                for &a in axes {
                    let r = if a < 0 { a + ndim as isize } else { a };
                    if r < 0 || r >= ndim as isize {
                        return Err(crate::Error::shape(format!(
                            "axis {a} is out of bounds for an array of {ndim} dimensions"
                        )));
                    }
                    out.push(r as usize);
                }
                out.sort_unstable();
                out.dedup();
                Ok((out, *keepdims))
            }
        }
    }
}

impl From<isize> for Axes {
    fn from(a: isize) -> Axes {
        axis(a)
    }
}
