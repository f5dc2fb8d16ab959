//! The walks server-side apply makes over objects, after sigs.k8s.io/structured-merge-diff
//! v6 `typed/`: the fields a configuration sets (`tofieldset.go`), what changed between
//! two objects (`compare.go`), a configuration merged onto an object (`merge.go`), and
//! paths taken out of one (`remove.go`).
//!
//! The schema is an object's [`Types`]: which lists are sets or keyed, which maps are
//! atomic, and which map entries are named fields rather than free-form entries.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::path::{FieldPath, FieldSet, PathElement};
use super::schema::{ListType, Types, child, item_element};

/// What changed from one object to another, as three sets of paths.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Comparison {
    /// Set in the new object only.
    pub added: FieldSet,
    /// Set in both, to different values.
    pub modified: FieldSet,
    /// Set in the old object only.
    pub removed: FieldSet,
}

impl Comparison {
    /// Added or modified: what a write changed to.
    pub fn changed(&self) -> FieldSet {
        self.added.union(&self.modified).cloned().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.removed.is_empty()
    }

    /// Keeps only the paths `keep` accepts.
    pub fn retain(&mut self, keep: impl Fn(&FieldPath) -> bool) {
        self.added.retain(&keep);
        self.modified.retain(&keep);
        self.removed.retain(&keep);
    }
}

fn is_empty_map(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(_) => false,
    }
}

fn is_empty_list(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    }
}

/// How a node is walked, from the values on either side.
enum Shape {
    Map,
    List,
    Leaf,
}

fn shape(l: Option<&Value>, r: Option<&Value>) -> Shape {
    let is = |f: fn(&Value) -> bool| l.is_some_and(f) || r.is_some_and(f);
    let mixed = |f: fn(&Value) -> bool| [l, r].into_iter().flatten().any(|v| !f(v) && !v.is_null());
    if is(Value::is_object) && !mixed(Value::is_object) {
        Shape::Map
    } else if is(Value::is_array) && !mixed(Value::is_array) {
        Shape::List
    } else {
        Shape::Leaf
    }
}

/// The items of a list that have a path element, in order, and for each element the
/// items that have it (more than one: duplicates).
struct Indexed<'v> {
    items: Vec<(PathElement, &'v Value)>,
    order: Vec<PathElement>,
    all: BTreeMap<PathElement, Vec<&'v Value>>,
}

fn index<'v>(list: Option<&'v Value>, t: &ListType) -> Indexed<'v> {
    let mut ix = Indexed {
        items: Vec::new(),
        order: Vec::new(),
        all: BTreeMap::new(),
    };
    for item in list.and_then(Value::as_array).into_iter().flatten() {
        let Some(pe) = item_element(item, t) else {
            continue;
        };
        let seen = ix.all.entry(pe.clone()).or_default();
        if seen.is_empty() {
            ix.order.push(pe.clone());
        }
        seen.push(item);
        ix.items.push((pe, item));
    }
    ix
}

impl<'v> Indexed<'v> {
    fn count(&self, pe: &PathElement) -> usize {
        self.all.get(pe).map_or(0, Vec::len)
    }

    /// The first item with `pe`.
    fn first(&self, pe: &PathElement) -> Option<&'v Value> {
        self.all.get(pe).and_then(|items| items.first().copied())
    }
}

/// The paths `v` sets: every scalar, empty or null map, atomic list, and item of a
/// set or keyed list (typed/tofieldset.go).
pub fn field_set(v: &Value, types: &Types<'_>) -> FieldSet {
    fn go(v: &Value, path: &mut FieldPath, tpath: &str, types: &Types<'_>, out: &mut FieldSet) {
        match v {
            Value::Object(_) if types.atomic_map(tpath) => {
                out.insert(path.clone());
            }
            Value::Object(m) => {
                for (k, c) in m {
                    path.push(PathElement::field(k));
                    go(c, path, &child(tpath, k), types, out);
                    if is_empty_map(Some(c)) || !types.is_field(tpath, k) {
                        out.insert(path.clone());
                    }
                    path.pop();
                }
            }
            Value::Array(_) => match types.list(tpath) {
                None => {
                    out.insert(path.clone());
                }
                Some(t) => {
                    let ix = index(Some(v), &t);
                    let item_type = child(tpath, "[]");
                    for pe in &ix.order {
                        path.push(pe.clone());
                        if let (1, Some(item)) = (ix.count(pe), ix.first(pe)) {
                            go(item, path, &item_type, types, out);
                        }
                        out.insert(path.clone());
                        path.pop();
                    }
                }
            },
            _ => {
                out.insert(path.clone());
            }
        }
    }
    let mut out = FieldSet::new();
    go(v, &mut Vec::new(), "", types, &mut out);
    out.remove(&Vec::new());
    out
}

/// What changed from `lhs` to `rhs` (typed/compare.go): a leaf (scalar, atomic list,
/// maps or lists empty on both sides) is added, removed or modified; a map or list
/// that appears or goes is added or removed itself, and so is everything in it.
pub fn compare(lhs: Option<&Value>, rhs: Option<&Value>, types: &Types<'_>) -> Comparison {
    let mut c = Comparison::default();
    compare_node(lhs, rhs, &mut Vec::new(), "", types, &mut c);
    c.added.remove(&Vec::new());
    c.removed.remove(&Vec::new());
    c.modified.remove(&Vec::new());
    c
}

fn compare_leaf(l: Option<&Value>, r: Option<&Value>, path: &FieldPath, c: &mut Comparison) {
    match (l, r) {
        (None, Some(_)) => {
            c.added.insert(path.clone());
        }
        (Some(_), None) => {
            c.removed.insert(path.clone());
        }
        (Some(a), Some(b)) if a != b => {
            c.modified.insert(path.clone());
        }
        _ => {}
    }
}

fn compare_node(
    l: Option<&Value>,
    r: Option<&Value>,
    path: &mut FieldPath,
    tpath: &str,
    types: &Types<'_>,
    c: &mut Comparison,
) {
    if l.is_none() && r.is_none() {
        return;
    }
    let leaf = match shape(l, r) {
        Shape::Leaf => true,
        Shape::Map if types.atomic_map(tpath) || (is_empty_map(l) && is_empty_map(r)) => true,
        Shape::Map => {
            let lm = l.and_then(Value::as_object);
            let rm = r.and_then(Value::as_object);
            let keys: BTreeSet<&String> = lm.into_iter().chain(rm).flat_map(Map::keys).collect();
            for k in keys {
                path.push(PathElement::field(k));
                compare_node(
                    lm.and_then(|m| m.get(k)),
                    rm.and_then(|m| m.get(k)),
                    path,
                    &child(tpath, k),
                    types,
                    c,
                );
                path.pop();
            }
            false
        }
        Shape::List => match types.list(tpath) {
            None => true,
            Some(_) if is_empty_list(l) && is_empty_list(r) => true,
            Some(t) => {
                compare_items(l, r, &t, path, &child(tpath, "[]"), types, c);
                false
            }
        },
    };
    if leaf {
        compare_leaf(l, r, path, c);
    } else if l.is_none() {
        c.added.insert(path.clone());
    } else if r.is_none() {
        c.removed.insert(path.clone());
    }
}

fn compare_items(
    l: Option<&Value>,
    r: Option<&Value>,
    t: &ListType,
    path: &mut FieldPath,
    item_type: &str,
    types: &Types<'_>,
    c: &mut Comparison,
) {
    let li = index(l, t);
    let ri = index(r, t);
    let mut all = li.order.clone();
    all.extend(ri.order.iter().filter(|pe| li.count(pe) == 0).cloned());
    for pe in all {
        let (ln, rn) = (li.count(&pe), ri.count(&pe));
        path.push(pe.clone());
        match (ln, rn) {
            (0..=1, 0..=1) => compare_node(li.first(&pe), ri.first(&pe), path, item_type, types, c),
            // Duplicates on both sides compare as an atomic list of them.
            (2.., 2..) => {
                if li.all[&pe] != ri.all[&pe] {
                    c.modified.insert(path.clone());
                }
            }
            (2.., _) => {
                if rn == 1 {
                    compare_node(None, ri.first(&pe), path, item_type, types, c);
                }
                c.removed.insert(path.clone());
            }
            (_, 2..) => {
                if ln == 1 {
                    compare_node(li.first(&pe), None, path, item_type, types, c);
                }
                c.added.insert(path.clone());
            }
        }
        path.pop();
    }
}

/// `rhs` merged onto `lhs` (typed/merge.go): maps field by field, a set or keyed
/// list item by item (the configuration's order for its items, the object's items it
/// does not name kept where they were), anything else replaced.
pub fn merge(lhs: Option<&Value>, rhs: Option<&Value>, types: &Types<'_>) -> Option<Value> {
    merge_node(lhs, rhs, "", types)
}

fn merge_node(
    l: Option<&Value>,
    r: Option<&Value>,
    tpath: &str,
    types: &Types<'_>,
) -> Option<Value> {
    let leaf = || r.or(l).cloned();
    match shape(l, r) {
        Shape::Leaf => leaf(),
        Shape::Map if types.atomic_map(tpath) || (is_empty_map(l) && is_empty_map(r)) => leaf(),
        Shape::Map => {
            let mut out = l.and_then(Value::as_object).cloned().unwrap_or_default();
            for (k, rv) in r.and_then(Value::as_object).into_iter().flatten() {
                let lv = l.and_then(|m| m.get(k));
                match merge_node(lv, Some(rv), &child(tpath, k), types) {
                    Some(v) => {
                        out.insert(k.clone(), v);
                    }
                    None => {
                        out.remove(k);
                    }
                }
            }
            Some(Value::Object(out))
        }
        Shape::List => match types.list(tpath) {
            None => leaf(),
            Some(_) if is_empty_list(l) && is_empty_list(r) => leaf(),
            Some(t) => {
                let out = merge_items(l, r, &t, &child(tpath, "[]"), types);
                (!out.is_empty()).then_some(Value::Array(out))
            }
        },
    }
}

/// The order of merge.go's mergeListItems: walk both lists together; an item of
/// both is merged where the configuration puts it, the object's other items stay
/// where they were, the configuration's new items come where it has them.
fn merge_items(
    l: Option<&Value>,
    r: Option<&Value>,
    t: &ListType,
    item_type: &str,
    types: &Types<'_>,
) -> Vec<Value> {
    let ri = index(r, t);
    let li = index(l, t);
    let litems = &li.items;
    // The object's item for an element, unless it has it more than once.
    let lone = |pe: &PathElement| li.first(pe).filter(|_| li.count(pe) == 1);
    // The configuration's item for an element merged onto the object's.
    let merged = |pe: &PathElement| merge_node(lone(pe), ri.first(pe), item_type, types);
    let mut shared = ri
        .order
        .iter()
        .filter(|pe| li.count(pe) > 0)
        .collect::<std::collections::VecDeque<_>>();
    let mut next_shared = shared.pop_front();
    let mut merged_rhs: BTreeSet<&PathElement> = BTreeSet::new();
    let mut out = Vec::new();
    let mut push = |v: Option<Value>| out.extend(v);
    let (ll, rl) = (litems.len(), ri.order.len());
    let (mut i, mut j) = (0, 0);
    while i < ll || j < rl {
        if i < ll && j < rl {
            let pe = &litems[i].0;
            if *pe == ri.order[j] {
                merged_rhs.insert(&ri.order[j]);
                push(merged(pe));
                i += 1;
                j += 1;
                next_shared = shared.pop_front();
                continue;
            }
            if ri.count(pe) > 0 && next_shared.is_some_and(|s| s != pe) {
                i += 1;
                continue;
            }
        }
        if i < ll {
            let (pe, item) = &litems[i];
            if ri.count(pe) == 0 {
                push(merge_node(Some(item), None, item_type, types));
                i += 1;
                continue;
            } else if merged_rhs.contains(pe) {
                i += 1;
            }
        }
        if j < rl {
            let pe = &ri.order[j];
            merged_rhs.insert(pe);
            push(merged(pe));
            j += 1;
            if next_shared == Some(pe) {
                next_shared = shared.pop_front();
            }
        }
    }
    out
}

/// The paths of `set` below `pe`, relative to it.
fn below(set: &FieldSet, pe: &PathElement) -> FieldSet {
    set.iter()
        .filter(|p| p.len() > 1 && p[0] == *pe)
        .map(|p| p[1..].to_vec())
        .collect()
}

/// `v` without the paths in `set`, a member taking everything in it along
/// (typed/remove.go); a map or list left empty by it goes too (`None`).
pub fn remove_items(v: &Value, set: &FieldSet, types: &Types<'_>) -> Value {
    remove_node(v, set, "", types).unwrap_or_else(|| Value::Object(Map::new()))
}

fn remove_node(v: &Value, set: &FieldSet, tpath: &str, types: &Types<'_>) -> Option<Value> {
    match v {
        // What is in an atomic map is not owned apart from it: it goes whole.
        Value::Object(m) if !m.is_empty() && types.atomic_map(tpath) => None,
        Value::Object(m) if !m.is_empty() => {
            let mut out = Map::new();
            for (k, c) in m {
                let pe = PathElement::field(k);
                if set.contains(&vec![pe.clone()]) {
                    continue;
                }
                let sub = below(set, &pe);
                let c = if sub.is_empty() {
                    Some(c.clone())
                } else {
                    remove_node(c, &sub, &child(tpath, k), types)
                };
                if let Some(c) = c {
                    out.insert(k.clone(), c);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        Value::Array(items) if !items.is_empty() => {
            let t = types.list(tpath)?;
            let item_type = child(tpath, "[]");
            let mut out = Vec::new();
            for item in items {
                let Some(pe) = item_element(item, &t) else {
                    out.push(item.clone());
                    continue;
                };
                if set.contains(&vec![pe.clone()]) {
                    continue;
                }
                let sub = below(set, &pe);
                if sub.is_empty() {
                    out.push(item.clone());
                } else if let Some(item) = remove_node(item, &sub, &item_type, types) {
                    out.push(item);
                }
            }
            (!out.is_empty()).then_some(Value::Array(out))
        }
        _ => Some(v.clone()),
    }
}

/// `set` with every named field that has members below it as a member too
/// (fieldpath/set.go, EnsureNamedFieldsAreMembers).
pub fn with_named_fields(set: &FieldSet, types: &Types<'_>) -> FieldSet {
    let mut out = set.clone();
    for p in set {
        let mut tpath = String::new();
        for n in 1..p.len() {
            match &p[n - 1] {
                PathElement::Field(k) => {
                    if types.is_field(&tpath, k) {
                        out.insert(p[..n].to_vec());
                    }
                    tpath = child(&tpath, k);
                }
                PathElement::Key(_) | PathElement::Value(_) => tpath = child(&tpath, "[]"),
            }
        }
    }
    out
}

/// The value at `path`, if `obj` has one.
pub fn value_at<'a>(obj: &'a Value, path: &[PathElement], types: &Types<'_>) -> Option<&'a Value> {
    let mut cur = obj;
    let mut tpath = String::new();
    for pe in path {
        match pe {
            PathElement::Field(k) => {
                cur = cur.as_object()?.get(k)?;
                tpath = child(&tpath, k);
            }
            PathElement::Key(_) | PathElement::Value(_) => {
                let t = types.list(&tpath)?;
                cur = cur
                    .as_array()?
                    .iter()
                    .find(|item| item_element(item, &t).as_ref() == Some(pe))?;
                tpath = child(&tpath, "[]");
            }
        }
    }
    Some(cur)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::super::path::{dotted, fields};
    use super::*;

    fn deploy(containers: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"template": {"spec": {"containers": containers}}}})
    }

    fn dots(set: &FieldSet) -> Vec<String> {
        set.iter().map(|p| dotted(p)).collect()
    }

    #[test]
    fn keyed_items_are_owned_one_by_one() {
        let d = deploy(json!([{"name": "a", "image": "x", "args": ["-v"]}]));
        let types = Types::of(&d);
        let set = field_set(&d, &types);
        let c = ".spec.template.spec.containers";
        for want in [
            format!("{c}[name=\"a\"]"),
            format!("{c}[name=\"a\"].name"),
            format!("{c}[name=\"a\"].image"),
            // args is atomic: a leaf.
            format!("{c}[name=\"a\"].args"),
            ".metadata.name".to_owned(),
        ] {
            assert!(dots(&set).contains(&want), "{want} in {:?}", dots(&set));
        }
        assert!(!dots(&set).contains(&c.to_owned()));
    }

    #[test]
    fn a_merge_keeps_items_the_configuration_does_not_name() {
        let live = deploy(json!([{"name": "a", "image": "x"}, {"name": "side", "image": "s"}]));
        let config = deploy(json!([{"name": "b", "image": "y"}, {"name": "a", "image": "z"}]));
        let types = Types::of(&live);
        let merged = merge(Some(&live), Some(&config), &types).unwrap();
        assert_eq!(
            merged["spec"]["template"]["spec"]["containers"],
            json!([{"name": "b", "image": "y"}, {"name": "a", "image": "z"},
                   {"name": "side", "image": "s"}])
        );
        let c = compare(Some(&live), Some(&merged), &types);
        let base = ".spec.template.spec.containers";
        assert_eq!(dots(&c.modified), vec![format!("{base}[name=\"a\"].image")]);
        assert!(dots(&c.added).contains(&format!("{base}[name=\"b\"]")));
        assert!(c.removed.is_empty());
    }

    #[test]
    fn an_atomic_list_is_replaced_and_compared_whole() {
        let live = deploy(json!([{"name": "a", "args": ["1", "2"]}]));
        let config = deploy(json!([{"name": "a", "args": ["3"]}]));
        let types = Types::of(&live);
        let merged = merge(Some(&live), Some(&config), &types).unwrap();
        assert_eq!(
            merged["spec"]["template"]["spec"]["containers"][0]["args"],
            json!(["3"])
        );
        let c = compare(Some(&live), Some(&merged), &types);
        assert_eq!(
            dots(&c.modified),
            vec![".spec.template.spec.containers[name=\"a\"].args".to_owned()]
        );
    }

    #[test]
    fn empty_maps_are_owned_and_a_new_map_is_added_itself() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "x", "labels": {}}, "data": {"a": "1"}});
        let types = Types::of(&cm);
        let set = field_set(&cm, &types);
        assert!(set.contains(&fields(&["metadata", "labels"])));
        assert!(!set.contains(&fields(&["data"])));
        let c = compare(None, Some(&cm), &types);
        assert!(c.added.contains(&fields(&["data"])));
        assert!(c.added.contains(&fields(&["data", "a"])));
    }

    #[test]
    fn removing_a_member_takes_what_is_in_it_and_empty_parents_go() {
        let d = deploy(json!([{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]));
        let types = Types::of(&d);
        let item = |n: &str| {
            let mut p = fields(&["spec", "template", "spec", "containers"]);
            p.push(PathElement::Key(format!("{{\"name\":\"{n}\"}}")));
            p
        };
        let out = remove_items(&d, &FieldSet::from([item("a")]), &types);
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "b", "image": "y"}])
        );
        let out = remove_items(&d, &FieldSet::from([item("a"), item("b")]), &types);
        assert_eq!(out.get("spec"), None);
        assert_eq!(
            value_at(&d, &item("b"), &types),
            Some(&json!({"name": "b", "image": "y"}))
        );
        let named = with_named_fields(
            &FieldSet::from([{
                let mut p = item("a");
                p.push(PathElement::field("image"));
                p
            }]),
            &types,
        );
        assert!(named.contains(&fields(&["spec", "template", "spec", "containers"])));
        assert!(!named.contains(&item("a")));
    }

    #[test]
    fn free_form_entries_of_a_custom_resource_are_owned_themselves() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object",
            "properties": {"size": {"type": "integer"},
                "values": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}});
        let types = Types::custom(&schema);
        let cr = json!({"apiVersion": "example.com/v1", "kind": "Foo", "metadata": {"name": "f"},
            "spec": {"size": 1, "values": {"image": {"tag": "v1"}}}});
        let set = field_set(&cr, &types);
        assert!(set.contains(&fields(&["spec", "values", "image"])));
        assert!(set.contains(&fields(&["spec", "values", "image", "tag"])));
        // Named fields are not members of their own: `spec`, `spec.values`.
        assert!(!set.contains(&fields(&["spec"])));
        assert!(!set.contains(&fields(&["spec", "values"])));
        let named = with_named_fields(&set, &types);
        assert!(named.contains(&fields(&["spec", "values"])));
    }

    /// A Deployment from a few containers (unique names, some with env), finalizers
    /// and labels: the shapes server-side apply merges item by item and field by field.
    fn arb_deployment() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let env = proptest::collection::btree_map("[AB]", "[12]", 0..3);
        let container = ("[xy]", proptest::option::of(env));
        (
            proptest::collection::btree_map("[abc]", container, 0..4),
            proptest::collection::btree_set("f[123]", 0..3),
            proptest::collection::btree_map("[pq]", "[12]", 0..3),
        )
            .prop_map(|(containers, finalizers, labels)| {
                let containers: Vec<Value> = containers
                    .into_iter()
                    .map(|(name, (image, env))| {
                        let mut c = json!({"name": name, "image": image});
                        if let Some(env) = env {
                            c["env"] = env
                                .into_iter()
                                .map(|(n, v)| json!({"name": n, "value": v}))
                                .collect();
                        }
                        c
                    })
                    .collect();
                let mut d = deploy(Value::Array(containers));
                d["metadata"]["finalizers"] = json!(finalizers);
                d["metadata"]["labels"] = json!(labels);
                d
            })
    }

    proptest::proptest! {
        #[test]
        fn merging_and_comparing_follow_their_rules(a in arb_deployment(), b in arb_deployment()) {
            let types = Types::of(&a);
            // An object compared with itself has no changes; merged onto itself it is itself.
            proptest::prop_assert!(compare(Some(&a), Some(&a), &types).is_empty());
            proptest::prop_assert_eq!(merge(Some(&a), Some(&a), &types), Some(a.clone()));
            let merged = merge(Some(&a), Some(&b), &types).unwrap();
            // A merge removes nothing, and every scalar the configuration sets is in it
            // with the configuration's value.
            proptest::prop_assert!(compare(Some(&a), Some(&merged), &types).removed.is_empty());
            for p in field_set(&b, &types) {
                let want = value_at(&b, &p, &types).unwrap();
                if !want.is_object() && !want.is_array() {
                    proptest::prop_assert_eq!(value_at(&merged, &p, &types), Some(want));
                }
            }
            // Removing everything an object sets leaves nothing it sets (an empty set or
            // keyed list sets nothing, as on the API server).
            let left = remove_items(&a, &field_set(&a, &types), &types);
            proptest::prop_assert!(field_set(&left, &types).is_empty(), "left {}", left);
            // What changed from a to b, applied as removals and b's values, is b's own.
            let diff = compare(Some(&a), Some(&b), &types);
            for p in diff.changed() {
                proptest::prop_assert!(value_at(&b, &p, &types).is_some());
            }
            for p in &diff.removed {
                proptest::prop_assert!(value_at(&a, p, &types).is_some());
                proptest::prop_assert!(value_at(&b, p, &types).is_none());
            }
        }
    }
}
