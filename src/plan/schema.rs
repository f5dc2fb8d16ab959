//! The JSON Schema of plan files (`schemas/plan.schema.json`), assembled from the
//! same serde types validation deserializes into.

use schemars::{JsonSchema, SchemaGenerator, generate::SchemaSettings};
use serde_json::{Map, Value, json};

use super::{RawCommon, RawHeader, RawNotify, RawSelection, RawVarSpec, TaskType};

/// The schema, as pretty JSON with a trailing newline.
pub fn plan_schema() -> String {
    let mut text =
        serde_json::to_string_pretty(&plan_schema_value()).expect("a JSON value always serializes");
    text.push('\n');
    text
}

/// The schema as a JSON value. Each task type is one `if`/`then` of
/// `tasks.additionalProperties.allOf`, in [`TaskType::ALL`]'s order, whose `then`
/// has every key the type takes (`properties`, `required`) and an example task
/// (`examples`).
pub fn plan_schema_value() -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let mut defs = Map::new();

    let header = object_schema::<RawHeader>(&mut generator, &mut defs);
    let var_spec = object_schema::<RawVarSpec>(&mut generator, &mut defs);
    let common = object_schema::<RawCommon>(&mut generator, &mut defs);
    let selection = object_schema::<RawSelection>(&mut generator, &mut defs);
    let notify = object_schema::<RawNotify>(&mut generator, &mut defs);

    let mut variants = Vec::new();
    for &task_type in TaskType::ALL {
        let info = task_type.info();
        let own = task_type.own_schema(&mut generator);
        let mut own = split_root(own.to_value(), &mut defs);
        let examples = own
            .as_object_mut()
            .and_then(|o| o.remove("examples"))
            .unwrap_or_else(|| json!([]));
        let mut properties = Map::new();
        let mut required = vec![json!("type")];
        properties.insert(
            "type".into(),
            json!({ "const": info.name, "description": info.summary }),
        );
        let mut groups = vec![&common];
        if info.selection {
            groups.push(&selection);
        }
        groups.push(&own);
        for group in groups {
            if let Some(props) = group.get("properties").and_then(Value::as_object) {
                properties.extend(props.clone());
            }
            if let Some(req) = group.get("required").and_then(Value::as_array) {
                required.extend(req.iter().cloned());
            }
        }
        // if/then on the discriminator (not oneOf): editors and taplo then report
        // the one key that is wrong instead of "no variant matched".
        variants.push(json!({
            "if": { "properties": { "type": { "const": info.name } }, "required": ["type"] },
            "then": {
                "title": info.name,
                "description": info.summary,
                "properties": properties,
                "required": required,
                "additionalProperties": false,
                "examples": examples,
            },
        }));
    }

    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://planrun.dev/schemas/plan.schema.json",
        "title": "planrun plan",
        "description": "A maintenance plan: typed tasks with dependencies, run by planrun.",
        "type": "object",
        "properties": {
            "plan": header,
            "vars": {
                "description": "Variables, used as {{ name }} in any string; --var name=value overrides.",
                "type": "object",
                "additionalProperties": { "anyOf": [ { "type": "string" }, var_spec ] },
            },
            "notify": notify,
            "tasks": {
                "description": "Tasks by id; an id names the task in `needs`, logs and reports.",
                "type": "object",
                "propertyNames": { "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]*$" },
                "additionalProperties": {
                    "type": "object",
                    "properties": {
                        "type": {
                            "description": "The task type.",
                            "enum": TaskType::ALL.iter().map(|t| t.name()).collect::<Vec<_>>(),
                        },
                    },
                    "required": ["type"],
                    "allOf": variants,
                },
            },
        },
        "required": ["plan", "tasks"],
        "additionalProperties": false,
        "$defs": defs,
    })
}

/// The object schema of `T` with its `$defs` moved into `defs`.
fn object_schema<T: JsonSchema>(
    generator: &mut SchemaGenerator,
    defs: &mut Map<String, Value>,
) -> Value {
    split_root(generator.root_schema_for::<T>().to_value(), defs)
}

fn split_root(mut schema: Value, defs: &mut Map<String, Value>) -> Value {
    if let Some(object) = schema.as_object_mut() {
        if let Some(Value::Object(own_defs)) = object.remove("$defs") {
            defs.extend(own_defs);
        }
        object.remove("$schema");
        object.remove("title");
    }
    schema
}
