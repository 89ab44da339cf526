//! A bag's fused chain as data: where its items come from and the registered functions applied
//! to them, so that the layers that run the chain can be rebuilt in another process.
//!
//! A bag whose steps are all functions written inside [`remote_fn!`](crate::remote_fn) keeps a
//! [`ReadPlan`] beside its reader. The layers that run the chain (`materialize`,
//! `str_frequencies`) are then built from operators carrying the plan, and the kernels both
//! sides run are the ones [`ReadPlan`] rebuilds from the registry. A bag with one plain closure
//! in its chain has no plan; its layers are local-only and shipping them fails naming the layer.

use std::sync::{Arc, OnceLock};

use partita_runtime::{value, Kernel, NameIndex, Result, TaskContext, TaskKey, Value};
use serde::{Deserialize, Serialize};

use super::strcount::StrCounts;
use crate::item_fn::{
    apply, item_type, wire, AggInput, AggKind, AggStep, AnyBox, ItemUse, StrKeyReader, Terminal,
    TopKInput,
};
use crate::layer::{register_op, Op};

/// Where a bag's items come from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum SourceSpec {
    /// The input partitions are `Vec`s of items.
    Vec,
    /// The input partitions are read by the registered [`ItemSource`] `name`.
    Named {
        /// The source's registered name.
        name: String,
        /// Its parameters.
        params: Vec<u8>,
    },
}

/// A bag's chain: its source and the `(use, function name)` of each step.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ReadPlan {
    pub(crate) source: SourceSpec,
    pub(crate) steps: Vec<(ItemUse, String)>,
}

/// A registered reader of partitions that are not `Vec`s of items (the lines of a text block).
#[derive(Debug)]
pub struct ItemSource {
    /// The stable name.
    pub name: &'static str,
    /// The reader (a `Reader<T>` in an [`AnyBox`]) for the parameters.
    pub reader: fn(&[u8]) -> Result<AnyBox>,
    /// A terminal use (`Collect`) of the source's items, when no step follows it.
    pub finish: fn(ItemUse, Terminal) -> Result<AnyBox>,
}

/// Every registered item source.
// The slice lives in a link section that linkme declares; no unsafe code is written here.
#[allow(unsafe_code)]
#[linkme::distributed_slice]
pub static ITEM_SOURCES: [ItemSource];

fn source(name: &str) -> Result<&'static ItemSource> {
    static BY_NAME: OnceLock<NameIndex<ItemSource>> = OnceLock::new();
    BY_NAME
        .get_or_init(|| NameIndex::new(&ITEM_SOURCES, |s| s.name))
        .get("item source", name)
}

/// Registers an [`ItemSource`] at link time.
#[macro_export]
#[doc(hidden)]
macro_rules! register_item_source {
    ($name:expr, $reader:expr, $finish:expr) => {
        // A link-time entry of the slice (linkme places it in the slice's link section).
        #[allow(unsafe_code)]
        const _: () = {
            #[$crate::__private::linkme::distributed_slice($crate::ITEM_SOURCES)]
            #[linkme(crate = $crate::__private::linkme)]
            static SOURCE: $crate::ItemSource = $crate::ItemSource {
                name: $name,
                reader: $reader,
                finish: $finish,
            };
        };
    };
}

impl ReadPlan {
    /// The reader after every step (`None`: `Vec` partitions read as they are).
    pub(super) fn reader(&self) -> Result<Option<AnyBox>> {
        let mut prev = match &self.source {
            SourceSpec::Vec => None,
            SourceSpec::Named { name, params } => Some((source(name)?.reader)(params)?),
        };
        for (usage, name) in &self.steps {
            prev = Some(apply(name, *usage, prev)?);
        }
        Ok(prev)
    }

    /// The kernel collecting the chain's items of input `input` into a `Vec` partition.
    fn collect(&self, input: &TaskKey) -> Result<Kernel> {
        let mut prev = match &self.source {
            SourceSpec::Vec => None,
            SourceSpec::Named { name, params } => Some((source(name)?.reader)(params)?),
        };
        let Some(((last_use, last), init)) = self.steps.split_last() else {
            return match &self.source {
                SourceSpec::Named { name, .. } => kernel_of((source(name)?.finish)(
                    ItemUse::Collect,
                    Terminal {
                        prev,
                        after: ItemUse::Collect,
                        input: input.clone(),
                    },
                )?),
                SourceSpec::Vec => Err(wire(
                    "a bag of Vec partitions with no step has nothing to collect".into(),
                )),
            };
        };
        for (usage, name) in init {
            prev = Some(apply(name, *usage, prev)?);
        }
        let terminal = Terminal {
            prev: Some(apply(last, *last_use, prev)?),
            after: *last_use,
            input: input.clone(),
        };
        kernel_of(apply(last, ItemUse::Collect, Some(Box::new(terminal)))?)
    }
}

pub(super) fn kernel_of(b: AnyBox) -> Result<Kernel> {
    b.downcast::<Kernel>()
        .map(|k| *k)
        .map_err(|_| wire("a bag's last step did not give a kernel".into()))
}

pub(super) fn one_input(cx: TaskContext<'_>) -> Result<TaskKey> {
    match cx.deps {
        [one] => Ok(one.clone()),
        other => Err(wire(format!(
            "task {} reads {} partitions, a bag step reads one",
            cx.key,
            other.len()
        ))),
    }
}

/// Runs a bag's chain over one input partition into a `Vec` partition (`materialize`).
#[derive(Serialize, Deserialize)]
pub(crate) struct Collect {
    pub(crate) plan: ReadPlan,
}

impl Op for Collect {
    const NAME: &'static str = "bag.collect";

    fn kernel(&self, cx: TaskContext<'_>) -> Result<Kernel> {
        self.plan.collect(&one_input(cx)?)
    }
}

register_op!(Collect);

/// Counts the string keys that the registered function `keys` finds in one input partition's
/// items (`str_frequencies`' partial tables).
#[derive(Serialize, Deserialize)]
pub(crate) struct StrCountsPartial {
    pub(crate) plan: ReadPlan,
    pub(crate) keys: String,
}

impl Op for StrCountsPartial {
    const NAME: &'static str = "bag.str_counts_partial";

    fn kernel(&self, cx: TaskContext<'_>) -> Result<Kernel> {
        let input = one_input(cx)?;
        let keys = apply(&self.keys, ItemUse::StrKeys, self.plan.reader()?)?
            .downcast::<StrKeyReader>()
            .map(|r| *r)
            .map_err(|_| wire(format!("{} did not give a key reader", self.keys)))?;
        Ok(Arc::new(move |mut inputs: Vec<Value>| {
            let mut counts = StrCounts::default();
            keys(inputs.swap_remove(0), &input, &mut |k| counts.count(k))?;
            Ok(value(counts))
        }))
    }
}

register_op!(StrCountsPartial);

/// One step of an aggregation's tree over the items of the registered item type numbered
/// `item`: a partial (which reads its partition through `plan`), a merge, or the empty partial.
#[derive(Serialize, Deserialize)]
pub(crate) struct Aggregate {
    pub(crate) kind: AggKind,
    pub(crate) step: AggStep,
    pub(crate) item: u64,
    /// The chain, for partials.
    pub(crate) plan: Option<ReadPlan>,
}

impl Op for Aggregate {
    const NAME: &'static str = "bag.aggregate";

    fn kernel(&self, cx: TaskContext<'_>) -> Result<Kernel> {
        let reader = match (&self.plan, self.step) {
            (Some(plan), AggStep::Partial) => plan.reader()?,
            (None, AggStep::Partial) => {
                return Err(wire(format!(
                    "{}: a partial aggregate needs its chain",
                    cx.key
                )))
            }
            _ => None,
        };
        let input = AggInput {
            reader,
            deps: cx.deps.to_vec(),
        };
        (item_type(self.item)?.aggregate)(self.kind, self.step, input).unwrap_or_else(|| {
            Err(wire(format!(
                "{}: the item type cannot compute {:?}",
                cx.key, self.kind
            )))
        })
    }
}

register_op!(Aggregate);

/// One step of `topk(k, key)`'s tree, `key` a registered function.
#[derive(Serialize, Deserialize)]
pub(crate) struct TopK {
    pub(crate) key: String,
    pub(crate) k: usize,
    pub(crate) step: AggStep,
    /// The chain, for partials.
    pub(crate) plan: Option<ReadPlan>,
}

impl Op for TopK {
    const NAME: &'static str = "bag.topk";

    fn kernel(&self, cx: TaskContext<'_>) -> Result<Kernel> {
        let reader = match (&self.plan, self.step) {
            (Some(plan), AggStep::Partial) => plan.reader()?,
            _ => None,
        };
        let input = TopKInput {
            step: self.step,
            k: self.k,
            input: AggInput {
                reader,
                deps: cx.deps.to_vec(),
            },
        };
        kernel_of(apply(&self.key, ItemUse::TopK, Some(Box::new(input)))?)
    }
}

register_op!(TopK);

/// `map_partitions(f)`, `f` a registered function: `f` of each whole partition's items.
#[derive(Serialize, Deserialize)]
pub(crate) struct MapPartitions {
    pub(crate) plan: ReadPlan,
    pub(crate) f: String,
}

impl Op for MapPartitions {
    const NAME: &'static str = "bag.map_partitions";

    fn kernel(&self, cx: TaskContext<'_>) -> Result<Kernel> {
        let terminal = Terminal {
            prev: self.plan.reader()?,
            after: ItemUse::Partitions,
            input: one_input(cx)?,
        };
        kernel_of(apply(
            &self.f,
            ItemUse::Partitions,
            Some(Box::new(terminal)),
        )?)
    }
}

register_op!(MapPartitions);
