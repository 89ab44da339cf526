//! Text files: a bag of lines in, one file per partition out, and rolling files from a stream.

mod rolling;
mod sink;
mod source;

pub use self::rolling::{to_rolling_textfiles, Roll};
pub use self::sink::to_textfiles;
pub use self::source::{read_text, read_text_with, Compression, TextOptions};
