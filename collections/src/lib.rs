//! partita's lazy collections.
//!
//! Each collection builds a task graph and turns it over to a [`Runtime`](partita_runtime::Runtime)
//! to compute: [`Delayed`] for lazy values built from plain closures, and [`Bag`] for
//! partitioned collections of arbitrary items.

mod array;
mod bag;
mod dataframe;
mod delayed;
mod error;
mod filled;
mod item_fn;
mod layer;
mod names;
mod partition_plan;
mod short_key;
mod shuffle_op;
mod stream;
mod text;

pub use self::array::{
    axis, compute_arrays, Array, Axes, Chunks, DType, DynArray, Element, Float, Index, Numeric,
    Operand, Real, Scalar, C128, C64,
};
pub use self::bag::{AsF64, Bag, ItemSource, Reader, ITEM_SOURCES};
pub use self::dataframe::{
    coalesce, col, count, dtype_name, first, last, lit, max, mean, min, parse_times, serde_array,
    serde_schema, size, std, sum, var, when, Agg, AggFunc, BinaryOp, ColumnSource, ColumnType,
    DataFrame, DtExpr, DtField, DtOp, DtUnit, Every, Expr, FromColumn, GroupBy, How, Literal,
    Merge, NumOp, RankMethod, Resample, Rolling, Series, Side, StrExpr, StrOp, Then, When,
    SHUFFLE_ABOVE,
};
pub use self::delayed::{
    combine, compute_all, delayed, from_value, graph_all, Delayed, DelayedHandle,
};
pub use self::error::{Error, Result};
pub use self::item_fn::{
    AggKind, AggStep, AnyBox, ItemFn, ItemType, ItemUse, StrKeyReader, ITEM_FNS, ITEM_TYPES,
};
pub use self::layer::{blockwise, layer, Op};
pub use self::names::layer_name;
pub use self::stream::{
    DeadLetter, ErrorPolicy, KeyedStream, Pipeline, StageMetrics, Stream, Topology, Window,
    WindowResult, WindowedStream,
};
pub use self::text::{split_whitespace, SplitWhitespace};

/// What the registration macros expand to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use partita_runtime::__private::{linkme, try_owned1, type_id_of};
    pub use partita_runtime::register_fn;

    /// The item adapters of `remote_fn!`.
    pub mod item {
        pub use crate::bag::{
            aggregate_step, fold_step, groupby_step, per_partition, AggregateFn, FoldFn, FoldInput,
            GroupByFn, NoAcc, NoHashKey, NoSame, ShuffleInput, ViaAcc, ViaHashKey, ViaSame,
        };
        pub use crate::item_fn::{
            count_of, filter, finish, flat_map, frequencies_of, map, max_of, mean_of, min_of,
            partitions, pluck, str_keys, sum_of, terminal, topk_of, topk_step, AggFn, AggInput,
            NoAdd, NoF64, NoHash, NoOrd, NoOrdKey, Probe, Terminal, TopKFn, TopKInput, ViaAdd,
            ViaF64, ViaHash, ViaOrd, ViaOrdKey,
        };
        pub use crate::item_fn::{repartition_of, DistinctFn, RepartitionInput};
    }
    /// The array adapters of `remote_fn!`.
    pub mod array {
        pub use crate::array::{
            blocks_step, map_step, ArrayFnInput, MapFn, NoElements, ViaElements,
        };
    }
    /// The stream adapters of `remote_fn!`.
    pub mod stream {
        pub use crate::stream::plan::{
            filter, flat_map, key_step, map, source, time, window_value, ErasedKeyed, ErasedStream,
            GenerateArgs, KeyArgs, KeyFn, NoHashKey, TimeArgs, ViaHashKey,
        };
    }
    pub use crate::layer::build_op;
    pub use partita_runtime;
}

/// The names most programs need.
pub mod prelude {
    pub use crate::{
        axis, coalesce, col, combine, compute_all, delayed, from_value, lit, when, Array, Axes,
        Bag, DataFrame, Delayed,
    };
}
