//! Graphviz export, as Dask's `visualize` gives.

use std::fmt::Write;

use rustc_hash::FxHashMap;

use super::{Graph, TaskKey, TaskKind};

impl Graph {
    /// The graph in Graphviz DOT: one box per task, grouped in a cluster per layer, with an edge
    /// from each input to the task that reads it. Render it with `dot -Tsvg`.
    ///
    /// ```
    /// let g = partita_runtime::Graph::new();
    /// assert!(g.to_dot().starts_with("digraph partita {"));
    /// ```
    pub fn to_dot(&self) -> String {
        let mut ids: FxHashMap<&TaskKey, usize> = FxHashMap::default();
        let mut out = String::from("digraph partita {\n  rankdir=BT;\n  node [shape=box];\n");
        for (li, layer) in self.layers.iter().enumerate() {
            let _ = writeln!(out, "  subgraph cluster_{li} {{");
            let _ = writeln!(out, "    label=\"{}\";", escape(layer.name()));
            for task in layer.tasks() {
                let id = ids.len();
                ids.insert(task.key(), id);
                let style = match task.kind() {
                    TaskKind::Compute(_) => "",
                    TaskKind::Stored(_) => ", style=filled, fillcolor=lightgrey",
                };
                let _ = writeln!(
                    out,
                    "    t{id} [label=\"{}\"{style}];",
                    escape(&task.key().to_string())
                );
            }
            out.push_str("  }\n");
        }
        for task in self.tasks() {
            for dep in task.deps() {
                if let (Some(from), Some(to)) = (ids.get(dep), ids.get(task.key())) {
                    let _ = writeln!(out, "  t{from} -> t{to};");
                }
            }
        }
        out.push_str("}\n");
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
