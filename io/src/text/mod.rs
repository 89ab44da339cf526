//! Text files: a bag of lines in, one file per partition out.

mod sink;
mod source;

pub use self::sink::to_textfiles;
pub use self::source::{read_text, read_text_with, Compression, TextOptions};
