//! `needs` -> the dependency DAG: unknown and duplicate dependencies, cycles (each
//! named in order), and a stable topological order.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::ops::Range;

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use super::error::{ErrorKind, PlanError};
use super::model::{Task, TaskIdx};
use super::task_table::ParsedTask;
use planrun_text::did_you_mean;

/// A task's `needs` entries with their spans.
pub type Needs = Vec<(String, Range<usize>)>;

/// Resolves `needs`, checks the graph they make (no cycle) and returns a
/// topological order. Fills `Task::needs`.
/// `unparsed` holds the ids and `needs` of tasks that had errors of their own: their
/// dependencies are still checked, so one pass reports everything.
pub fn build_graph(
    parsed: &mut [ParsedTask],
    unparsed: &[(String, Needs)],
    all_ids: &HashMap<String, Range<usize>>,
    errors: &mut Vec<PlanError>,
) -> Option<Vec<TaskIdx>> {
    let index: HashMap<&str, TaskIdx> = parsed
        .iter()
        .enumerate()
        .map(|(i, p)| (p.task.id.as_str(), i))
        .collect();
    let mut graph = DiGraph::with_capacity(parsed.len(), parsed.len());
    for i in 0..parsed.len() {
        graph.add_node(i);
    }
    let before = errors.len();
    let mut needs_of: Vec<Vec<TaskIdx>> = Vec::with_capacity(parsed.len());
    let entries = parsed
        .iter()
        .map(|p| (p.task.id.as_str(), &p.needs))
        .chain(unparsed.iter().map(|(id, needs)| (id.as_str(), needs)));
    for (i, (id, task_needs)) in entries.enumerate() {
        let mut needs: Vec<TaskIdx> = Vec::with_capacity(task_needs.len());
        let mut seen: HashMap<&str, &Range<usize>> = HashMap::new();
        for (need, span) in task_needs {
            if let Some(first) = seen.insert(need, span) {
                errors.push(
                    PlanError::new(
                        ErrorKind::DuplicateDependency,
                        format!("task `{id}` needs `{need}` twice"),
                    )
                    .at(span.clone(), "listed again here")
                    .at(first.clone(), "first listed here")
                    .help("list each dependency once"),
                );
                continue;
            }
            match index.get(need.as_str()) {
                Some(&j) => {
                    if i < parsed.len() {
                        needs.push(j);
                        graph.add_edge(NodeIndex::new(j), NodeIndex::new(i), ());
                    }
                }
                // A task that exists but failed to parse: its own errors say why.
                None if all_ids.contains_key(need) => {}
                None => {
                    let help = match did_you_mean(need, all_ids.keys().map(String::as_str)) {
                        Some(close) => format!("did you mean `{close}`?"),
                        None => "needs lists ids of tasks in this plan ([tasks.<id>])".into(),
                    };
                    errors.push(
                        PlanError::new(
                            ErrorKind::UnknownDependency,
                            format!("task `{id}` needs `{need}`, which is not a task of this plan"),
                        )
                        .at(span.clone(), "no such task")
                        .help(help),
                    );
                }
            }
        }
        if i < parsed.len() {
            needs_of.push(needs);
        }
    }
    for (p, needs) in parsed.iter_mut().zip(needs_of) {
        p.task.needs = needs;
    }
    // Cycles through every task, those with errors of their own too: a cycle is
    // reported whatever else is wrong.
    // In declaration order, so that a cycle is named from the task written first.
    let mut nodes: Vec<(&str, &Needs)> = parsed
        .iter()
        .map(|p| (p.task.id.as_str(), &p.needs))
        .chain(unparsed.iter().map(|(id, needs)| (id.as_str(), needs)))
        .collect();
    nodes.sort_by_key(|(id, _)| all_ids.get(*id).map(|span| span.start));
    report_cycles(&nodes, errors);
    if errors.len() > before {
        return None;
    }
    let order = stable_topo_order(&parsed.iter().map(|p| &p.task).collect::<Vec<_>>(), &graph);
    Some(order)
}

/// One error per cycle among `nodes` (each task's id and `needs`), naming every task
/// of it in order, labelled on each `needs` entry that closes a link of the cycle.
fn report_cycles(nodes: &[(&str, &Needs)], errors: &mut Vec<PlanError>) {
    let index: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (*id, i))
        .collect();
    // `needed[i]`: the tasks task i needs.
    let needed: Vec<Vec<usize>> = nodes
        .iter()
        .map(|(_, needs)| {
            needs
                .iter()
                .filter_map(|(n, _)| index.get(n.as_str()).copied())
                .collect()
        })
        .collect();
    let mut graph: DiGraph<usize, ()> = DiGraph::with_capacity(nodes.len(), nodes.len());
    for i in 0..nodes.len() {
        graph.add_node(i);
    }
    for (i, needs) in needed.iter().enumerate() {
        for &j in needs {
            graph.add_edge(NodeIndex::new(j), NodeIndex::new(i), ());
        }
    }
    for component in tarjan_scc(&graph) {
        let is_cycle = component.len() > 1 || graph.contains_edge(component[0], component[0]);
        if !is_cycle {
            continue;
        }
        let members: Vec<usize> = component.iter().map(|n| graph[*n]).collect();
        let cycle = find_cycle(&needed, &members);
        let names: Vec<&str> = cycle.iter().map(|&i| nodes[i].0).collect();
        let mut text = names.join(" -> ");
        text.push_str(" -> ");
        text.push_str(names[0]);
        let mut error = PlanError::new(ErrorKind::Cycle, format!("dependency cycle: {text}"));
        // Edge a -> b in the cycle means b needs a; label b's `needs` entry for a.
        for (k, &task) in cycle.iter().enumerate() {
            let needed_id = nodes[cycle[(k + cycle.len() - 1) % cycle.len()]].0;
            let (id, needs) = nodes[task];
            if let Some((_, span)) = needs.iter().find(|(n, _)| n == needed_id) {
                error = error.at(span.clone(), format!("`{id}` needs `{needed_id}`"));
            }
        }
        errors
            .push(error.help(
                "a task cannot wait, directly or not, for itself: remove one of these needs",
            ));
    }
}

/// A concrete cycle through the smallest-index member of a strongly connected
/// component, in dependency order (each task needs the previous one); `needed[i]`:
/// the tasks task i needs.
fn find_cycle(needed: &[Vec<usize>], members: &[usize]) -> Vec<usize> {
    let start = *members.iter().min().expect("a component is never empty");
    // Walk "is needed by" edges inside the component, BFS for the shortest way back.
    let mut parent: HashMap<usize, usize> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(cur) = queue.pop_front() {
        for &next in members {
            if !needed[next].contains(&cur) {
                continue;
            }
            if next == start {
                let mut path = vec![cur];
                let mut at = cur;
                while at != start {
                    at = parent[&at];
                    path.push(at);
                }
                path.reverse();
                return path;
            }
            if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(next) {
                e.insert(cur);
                queue.push_back(next);
            }
        }
    }
    members.to_vec()
}

/// Kahn's algorithm with ties broken by declaration order.
fn stable_topo_order(tasks: &[&Task], graph: &DiGraph<TaskIdx, ()>) -> Vec<TaskIdx> {
    let mut remaining: Vec<usize> = tasks.iter().map(|t| t.needs.len()).collect();
    let mut ready: BinaryHeap<Reverse<TaskIdx>> = remaining
        .iter()
        .enumerate()
        .filter(|(_, n)| **n == 0)
        .map(|(i, _)| Reverse(i))
        .collect();
    let mut order = Vec::with_capacity(tasks.len());
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        for next in graph.neighbors_directed(NodeIndex::new(i), petgraph::Direction::Outgoing) {
            let j = graph[next];
            remaining[j] -= 1;
            if remaining[j] == 0 {
                ready.push(Reverse(j));
            }
        }
    }
    order
}
