//! `cargo xtask codegen [--check]`: regenerates everything derived from the event contract
//! in `proto-schemas/`, or checks that the committed copies are up to date:
//!
//! - the Rust bindings of `orderflow-events` (`crates/events/src/gen/`, prost + protox);
//! - the AsyncAPI 3.0 document `proto-schemas/asyncapi.json`, built from the protobuf
//!   descriptors (payload schemas with the `.proto` comments) and from `orderflow-events`'
//!   subject builders, stream specs and header names;
//! - the TypeScript bindings `proto-schemas/ts/src/gen/` (buf + protoc-gen-es).
//!
//! The outputs are committed so that consumers use them without running codegen; this
//! command is how they are refreshed after a `.proto` change, and `--check` is how CI
//! proves nobody forgot.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

// The generation itself lives next to the crate it feeds, shared with that crate's
// freshness test, so both always use the same prost-build settings.
#[path = "../../crates/events/codegen/generate.rs"]
mod generate;

/// The committed AsyncAPI document, relative to the workspace root.
const ASYNCAPI_FILE: &str = "proto-schemas/asyncapi.json";
/// The TypeScript package of the contract, relative to the workspace root.
const TS_PACKAGE: &str = "proto-schemas/ts";
/// Where buf writes the TypeScript bindings, relative to the proto root; must match `out`
/// in `proto-schemas/ts/buf.gen.yaml`.
const TS_GEN_DIR: &str = "ts/src/gen";
/// buf's version and install folder: the same as `scripts/check-schemas.sh`, so one
/// install serves both.
const BUF_VERSION: &str = "1.75.0";
const BUF_DIR: &str = ".tools/buf";

/// Regenerates the Rust bindings, the AsyncAPI document and the TypeScript bindings.
///
/// With `check`, generates into temporary places instead and fails, naming the stale
/// files, if anything differs from what is committed.
pub fn run(check: bool) -> anyhow::Result<()> {
    let root = workspace_root();
    let mut stale = rust_bindings(&root, check)?;
    stale.extend(asyncapi_file(&root, check)?);
    stale.extend(typescript_bindings(&root, check)?);
    if check && !stale.is_empty() {
        bail!(
            "generated files are stale: {} differ from what {} generates; \
             run `cargo xtask codegen` and commit the result",
            stale.join(", "),
            generate::PROTO_DIR,
        );
    }
    Ok(())
}

/// `crates/events/src/gen/`: returns the stale files (with `check`) or rewrites them.
fn rust_bindings(root: &Path, check: bool) -> anyhow::Result<Vec<String>> {
    let proto_root = root.join(generate::PROTO_DIR);
    let gen_dir = root.join(generate::GEN_DIR);

    let fresh = tempfile::tempdir().context("creating a temporary folder")?;
    generate::generate(&proto_root, fresh.path())
        .map_err(|error| anyhow::anyhow!("generating bindings: {error}"))?;
    let stale = generate::stale_files(&gen_dir, fresh.path())
        .with_context(|| format!("comparing {}", gen_dir.display()))?;

    if stale.is_empty() {
        println!("codegen: {} is up to date", generate::GEN_DIR);
        return Ok(stale);
    }
    let stale: Vec<String> = stale
        .into_iter()
        .map(|name| format!("{}/{name}", generate::GEN_DIR))
        .collect();
    if check {
        return Ok(stale);
    }

    std::fs::create_dir_all(&gen_dir).with_context(|| format!("creating {}", gen_dir.display()))?;
    for path in &stale {
        let name = path.rsplit('/').next().unwrap_or(path);
        let source = fresh.path().join(name);
        let target = gen_dir.join(name);
        if source.exists() {
            std::fs::copy(&source, &target)
                .with_context(|| format!("writing {}", target.display()))?;
        } else {
            // A file whose package no longer exists.
            std::fs::remove_file(&target)
                .with_context(|| format!("removing {}", target.display()))?;
        }
        println!("codegen: updated {path}");
    }
    Ok(Vec::new())
}

/// `proto-schemas/asyncapi.json`: returns it as stale (with `check`) or rewrites it.
fn asyncapi_file(root: &Path, check: bool) -> anyhow::Result<Vec<String>> {
    let fresh = asyncapi::document(&root.join(generate::PROTO_DIR))?;
    let path = root.join(ASYNCAPI_FILE);
    if std::fs::read_to_string(&path).ok().as_deref() == Some(fresh.as_str()) {
        println!("codegen: {ASYNCAPI_FILE} is up to date");
        return Ok(Vec::new());
    }
    if check {
        return Ok(vec![ASYNCAPI_FILE.to_owned()]);
    }
    std::fs::write(&path, fresh).with_context(|| format!("writing {}", path.display()))?;
    println!("codegen: updated {ASYNCAPI_FILE}");
    Ok(Vec::new())
}

/// `proto-schemas/ts/src/gen/`: generated with buf and protoc-gen-es into a temporary
/// folder, then compared with (or copied over) the committed tree.
fn typescript_bindings(root: &Path, check: bool) -> anyhow::Result<Vec<String>> {
    let buf = ensure_buf(root)?;
    let package = root.join(TS_PACKAGE);
    // protoc-gen-es comes from the package's own lock file, so its version is pinned
    // together with the @bufbuild/protobuf runtime it generates code for.
    npm_ci_if_missing(&package)?;

    let fresh = tempfile::tempdir().context("creating a temporary folder")?;
    let path = std::env::join_paths(std::iter::once(package.join("node_modules/.bin")).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))?;
    let status = Command::new(&buf)
        .args(["generate", "--template", "ts/buf.gen.yaml", "--output"])
        .arg(fresh.path())
        .current_dir(root.join(generate::PROTO_DIR))
        .env("PATH", path)
        .status()
        .with_context(|| format!("running {}", buf.display()))?;
    if !status.success() {
        bail!("buf generate failed ({status})");
    }

    let committed = root.join(generate::PROTO_DIR).join(TS_GEN_DIR);
    let generated = fresh.path().join(TS_GEN_DIR);
    let stale = stale_tree(&committed, &generated)?;
    let shown = format!("{}/{TS_GEN_DIR}", generate::PROTO_DIR);
    if stale.is_empty() {
        println!("codegen: {shown} is up to date");
        return Ok(stale);
    }
    let stale: Vec<String> = stale.iter().map(|name| format!("{shown}/{name}")).collect();
    if check {
        return Ok(stale);
    }
    if committed.exists() {
        std::fs::remove_dir_all(&committed)
            .with_context(|| format!("removing {}", committed.display()))?;
    }
    copy_tree(&generated, &committed)?;
    for name in &stale {
        println!("codegen: updated {name}");
    }
    Ok(Vec::new())
}

/// buf from `.tools/buf`, installed from npm (`@bufbuild/buf`) when missing or of another
/// version, exactly as `scripts/check-schemas.sh` does.
fn ensure_buf(root: &Path) -> anyhow::Result<PathBuf> {
    let dir = root.join(BUF_DIR);
    let buf = dir.join("node_modules/.bin/buf");
    let version = Command::new(&buf)
        .arg("--version")
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned());
    if version.as_deref() != Some(BUF_VERSION) {
        println!("codegen: installing buf {BUF_VERSION} into {BUF_DIR}");
        let status = Command::new("npm")
            .args(["install", "--prefix"])
            .arg(&dir)
            .args(["--no-audit", "--no-fund", "--silent"])
            .arg(format!("@bufbuild/buf@{BUF_VERSION}"))
            .status()
            .context("running npm (is Node.js installed?)")?;
        if !status.success() {
            bail!("npm install @bufbuild/buf@{BUF_VERSION} failed ({status})");
        }
    }
    Ok(buf)
}

/// Runs `npm ci` in `package` unless its `node_modules` exists.
pub(crate) fn npm_ci_if_missing(package: &Path) -> anyhow::Result<()> {
    if package.join("node_modules").exists() {
        return Ok(());
    }
    println!("codegen: npm ci in {}", package.display());
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--silent"])
        .current_dir(package)
        .status()
        .context("running npm (is Node.js installed?)")?;
    if !status.success() {
        bail!("npm ci in {} failed ({status})", package.display());
    }
    Ok(())
}

/// Relative paths (with `/`) of the files that differ between two folder trees.
fn stale_tree(committed: &Path, fresh: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = tree_files(committed)?;
    names.extend(tree_files(fresh)?);
    Ok(names
        .into_iter()
        .filter(|name| {
            std::fs::read(committed.join(name)).ok() != std::fs::read(fresh.join(name)).ok()
        })
        .collect())
}

fn tree_files(dir: &Path) -> anyhow::Result<std::collections::BTreeSet<String>> {
    let mut files = std::collections::BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue; // a missing tree has no files
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(relative) = path.strip_prefix(dir) {
                files.insert(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    Ok(files)
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    for name in tree_files(from)? {
        let target = to.join(&name);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(from.join(&name), &target)
            .with_context(|| format!("writing {}", target.display()))?;
    }
    Ok(())
}

fn workspace_root() -> PathBuf {
    // xtask lives one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask has a parent folder")
        .to_path_buf()
}

/// The AsyncAPI 3.0 document of the event contract.
///
/// Everything in it is derived, so it cannot drift from the code: message payloads from the
/// protobuf descriptors (field names in the proto3 JSON mapping, types, enum values and
/// the `.proto` comments as descriptions), subjects from the `Event::subject` of
/// `orderflow-events` (each event is decoded from bytes whose id and sku fields hold
/// placeholders, and the placeholders in its subject become channel parameters), streams
/// and live subjects from `orderflow_events::streams`, header names from
/// `orderflow_events::headers`.
mod asyncapi {
    use std::collections::BTreeMap;
    use std::path::Path;

    use anyhow::{Context, anyhow};
    use orderflow_events::{SCHEMA_NAMES, decode_by_schema, headers, streams, subjects};
    use prost_types::field_descriptor_proto::{Label, Type};
    use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorProto};
    use serde_json::{Map, Value, json};
    use uuid::Uuid;

    use super::generate;

    /// Location paths in `SourceCodeInfo` (field numbers of descriptor.proto).
    const FILE_MESSAGES: i32 = 4;
    const FILE_ENUMS: i32 = 5;
    const MESSAGE_FIELDS: i32 = 2;
    const MESSAGE_NESTED: i32 = 3;
    const MESSAGE_ENUMS: i32 = 4;
    const ENUM_VALUES: i32 = 2;

    /// A message or enum of the contract, with its comments.
    enum Definition {
        Message {
            proto: DescriptorProto,
            comment: String,
            field_comments: Vec<String>,
        },
        Enum {
            proto: EnumDescriptorProto,
            comment: String,
            value_comments: Vec<String>,
        },
    }

    /// Every message and enum of the contract by full name (without the leading dot).
    struct Contract {
        definitions: BTreeMap<String, Definition>,
    }

    impl Contract {
        fn load(proto_root: &Path) -> anyhow::Result<Self> {
            let files = generate::proto_files(proto_root)?;
            let set = protox::compile(&files, [proto_root])?;
            let mut definitions = BTreeMap::new();
            for file in &set.file {
                // Well-known types (google.protobuf.Timestamp) are mapped by hand.
                if file.package().starts_with("google.") {
                    continue;
                }
                collect_file(file, &mut definitions);
            }
            Ok(Self { definitions })
        }

        fn message(&self, name: &str) -> anyhow::Result<(&DescriptorProto, &[String])> {
            match self.definitions.get(name) {
                Some(Definition::Message {
                    proto,
                    field_comments,
                    ..
                }) => Ok((proto, field_comments)),
                _ => Err(anyhow!("no message {name} in the .proto files")),
            }
        }
    }

    fn collect_file(file: &FileDescriptorProto, out: &mut BTreeMap<String, Definition>) {
        let comments: BTreeMap<Vec<i32>, String> = file
            .source_code_info
            .iter()
            .flat_map(|info| &info.location)
            .filter_map(|location| {
                let text = location.leading_comments();
                (!text.is_empty()).then(|| (location.path.clone(), clean_comment(text)))
            })
            .collect();
        let comment = |path: &[i32]| comments.get(path).cloned().unwrap_or_default();
        let prefix = file.package().to_owned();
        for (i, message) in file.message_type.iter().enumerate() {
            collect_message(message, &prefix, &[FILE_MESSAGES, i as i32], &comment, out);
        }
        for (i, enumeration) in file.enum_type.iter().enumerate() {
            collect_enum(enumeration, &prefix, &[FILE_ENUMS, i as i32], &comment, out);
        }
    }

    fn collect_message(
        message: &DescriptorProto,
        prefix: &str,
        path: &[i32],
        comment: &dyn Fn(&[i32]) -> String,
        out: &mut BTreeMap<String, Definition>,
    ) {
        let name = format!("{prefix}.{}", message.name());
        let at = |kind: i32, index: usize| [path, &[kind, index as i32]].concat();
        for (i, nested) in message.nested_type.iter().enumerate() {
            collect_message(nested, &name, &at(MESSAGE_NESTED, i), comment, out);
        }
        for (i, enumeration) in message.enum_type.iter().enumerate() {
            collect_enum(enumeration, &name, &at(MESSAGE_ENUMS, i), comment, out);
        }
        let field_comments = (0..message.field.len())
            .map(|i| comment(&at(MESSAGE_FIELDS, i)))
            .collect();
        out.insert(
            name,
            Definition::Message {
                proto: message.clone(),
                comment: comment(path),
                field_comments,
            },
        );
    }

    fn collect_enum(
        enumeration: &EnumDescriptorProto,
        prefix: &str,
        path: &[i32],
        comment: &dyn Fn(&[i32]) -> String,
        out: &mut BTreeMap<String, Definition>,
    ) {
        let value_comments = (0..enumeration.value.len())
            .map(|i| comment(&[path, &[ENUM_VALUES, i as i32]].concat()))
            .collect();
        out.insert(
            format!("{prefix}.{}", enumeration.name()),
            Definition::Enum {
                proto: enumeration.clone(),
                comment: comment(path),
                value_comments,
            },
        );
    }

    /// A `//` comment block as text: each line without the one space after `//`.
    fn clean_comment(text: &str) -> String {
        text.lines()
            .map(|line| line.strip_prefix(' ').unwrap_or(line).trim_end())
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_owned()
    }

    /// JSON Schema of one field's value in the proto3 JSON mapping.
    fn field_schema(field: &prost_types::FieldDescriptorProto, comment: &str) -> Value {
        let mut schema = match field.r#type() {
            Type::String => json!({ "type": "string" }),
            Type::Bool => json!({ "type": "boolean" }),
            Type::Int32 | Type::Sint32 | Type::Sfixed32 => {
                json!({ "type": "integer", "format": "int32" })
            }
            Type::Uint32 | Type::Fixed32 => {
                json!({ "type": "integer", "minimum": 0, "maximum": u32::MAX })
            }
            // The JSON mapping writes 64-bit integers as decimal strings.
            Type::Int64 | Type::Sint64 | Type::Sfixed64 => {
                json!({ "type": "string", "format": "int64", "pattern": "^-?[0-9]+$" })
            }
            Type::Uint64 | Type::Fixed64 => {
                json!({ "type": "string", "format": "uint64", "pattern": "^[0-9]+$" })
            }
            Type::Double | Type::Float => json!({ "type": "number" }),
            Type::Bytes => json!({ "type": "string", "contentEncoding": "base64" }),
            Type::Message | Type::Enum | Type::Group => match field.type_name() {
                ".google.protobuf.Timestamp" => json!({
                    "type": "string",
                    "format": "date-time",
                    "x-protobuf-type": "google.protobuf.Timestamp",
                }),
                // In the JSON Schema draft AsyncAPI 3.0 uses, keywords next to `$ref` are
                // ignored; `allOf` keeps the field's description and numbers.
                other => {
                    json!({ "allOf": [{ "$ref": schema_ref(other.trim_start_matches('.')) }] })
                }
            },
        };
        if field.label() == Label::Repeated {
            schema = json!({ "type": "array", "items": schema });
        }
        let object = schema.as_object_mut().expect("schemas are objects");
        if !comment.is_empty() {
            object.insert("description".into(), comment.into());
        }
        object.insert("x-protobuf-field".into(), json!(field.number()));
        object.insert("x-protobuf-name".into(), json!(field.name()));
        schema
    }

    fn schema_ref(full_name: &str) -> String {
        format!("#/components/schemas/{full_name}")
    }

    fn definition_schema(name: &str, definition: &Definition) -> Value {
        match definition {
            Definition::Message {
                proto,
                comment,
                field_comments,
            } => {
                let properties: Map<String, Value> = proto
                    .field
                    .iter()
                    .zip(field_comments)
                    .map(|(field, comment)| {
                        (field.json_name().to_owned(), field_schema(field, comment))
                    })
                    .collect();
                json!({
                    "type": "object",
                    "title": name,
                    "description": comment,
                    "properties": properties,
                })
            }
            Definition::Enum {
                proto,
                comment,
                value_comments,
            } => {
                // The JSON mapping writes enum values by name; each name carries its
                // number and comment.
                let values: Vec<Value> = proto
                    .value
                    .iter()
                    .zip(value_comments)
                    .map(|(value, comment)| {
                        json!({
                            "const": value.name(),
                            "description": comment,
                            "x-protobuf-number": value.number(),
                        })
                    })
                    .collect();
                json!({
                    "type": "string",
                    "title": name,
                    "description": comment,
                    "oneOf": values,
                })
            }
        }
    }

    /// The subject template of an event, e.g. `orders.v1.{customer_id}.{order_id}.created`,
    /// and the fields that fill its placeholders.
    ///
    /// The event is decoded from bytes that set every top-level string field to a distinct
    /// UUID, so `Event::subject` (the producers' own code) builds the real subject; each
    /// UUID found in it becomes a `{field}` placeholder.
    fn subject_template(
        schema: &str,
        message: &DescriptorProto,
    ) -> anyhow::Result<(String, Vec<String>)> {
        let mut bytes = Vec::new();
        let mut placeholders = Vec::new();
        for field in &message.field {
            if field.r#type() == Type::String && field.label() != Label::Repeated {
                let value = Uuid::from_u128((0xfeed_u128 << 64) | field.number() as u128)
                    .hyphenated()
                    .to_string();
                prost::encoding::string::encode(field.number() as u32, &value, &mut bytes);
                placeholders.push((value, field.name().to_owned()));
            }
        }
        let event = decode_by_schema(schema, &bytes)?;
        let mut subject = event
            .subject()
            .with_context(|| format!("subject of {schema}"))?;
        let mut parameters = Vec::new();
        for (value, name) in placeholders {
            if subject.contains(&value) {
                subject = subject.replace(&value, &format!("{{{name}}}"));
                parameters.push(name);
            }
        }
        Ok((subject, parameters))
    }

    /// Whether a concrete subject matches a NATS filter (`*` one token, `>` the rest).
    fn matches(filter: &str, subject: &str) -> bool {
        let mut tokens = subject.split('.');
        for pattern in filter.split('.') {
            match (pattern, tokens.next()) {
                (">", Some(_)) => return true,
                ("*", Some(_)) => {}
                (p, Some(t)) if p == t => {}
                _ => return false,
            }
        }
        tokens.next().is_none()
    }

    fn header(description: &str, schema: Value) -> Value {
        let mut schema = schema;
        schema["description"] = description.into();
        schema
    }

    /// Headers of every stored event; `schema` is the one value of `Orderflow-Schema`.
    fn event_headers(schema: &str, live_stream: Option<&str>) -> Value {
        let mut properties = Map::new();
        properties.insert(
            headers::MSG_ID.into(),
            header(
                "The event id (`metadata.eventId`, a UUID v7); JetStream drops a second \
                 publish with the same id within the stream's duplicate window.",
                json!({ "type": "string", "format": "uuid" }),
            ),
        );
        properties.insert(
            headers::CONTENT_TYPE.into(),
            header(
                "The payload is the protobuf binary encoding of the message.",
                json!({ "const": headers::CONTENT_TYPE_PROTOBUF }),
            ),
        );
        properties.insert(
            headers::SCHEMA.into(),
            header(
                "Full protobuf name of the payload's message. Decode by this header; \
                 skip (and log) a name you do not know, it is a newer event.",
                json!({ "const": schema }),
            ),
        );
        properties.insert(
            headers::AGGREGATE_VERSION.into(),
            header(
                "`metadata.aggregateVersion` in decimal, to order or skip without decoding.",
                json!({ "type": "string", "pattern": "^[0-9]+$" }),
            ),
        );
        let mut required = vec![
            headers::MSG_ID,
            headers::CONTENT_TYPE,
            headers::SCHEMA,
            headers::AGGREGATE_VERSION,
        ];
        if let Some(stream) = live_stream {
            properties.insert(
                headers::NATS_STREAM.into(),
                header(
                    "Added by JetStream republish: the stream that stored the message.",
                    json!({ "const": stream }),
                ),
            );
            properties.insert(
                headers::NATS_SEQUENCE.into(),
                header(
                    "Added by JetStream republish: the message's sequence in that stream, \
                     for gap detection and resuming with direct gets.",
                    json!({ "type": "string", "pattern": "^[0-9]+$" }),
                ),
            );
            properties.insert(
                headers::NATS_SUBJECT.into(),
                header(
                    "Added by JetStream republish: the stored subject (without `live.`).",
                    json!({ "type": "string" }),
                ),
            );
            properties.insert(
                headers::NATS_LAST_SEQUENCE.into(),
                header(
                    "Added by JetStream republish: sequence of the previous message on the \
                     same subject (0 if none).",
                    json!({ "type": "string", "pattern": "^[0-9]+$" }),
                ),
            );
            required.extend([headers::NATS_STREAM, headers::NATS_SEQUENCE]);
        }
        json!({ "type": "object", "properties": properties, "required": required })
    }

    /// Builds the document from the `.proto` files under `proto_root`, as pretty JSON with
    /// sorted keys and a final newline.
    pub fn document(proto_root: &Path) -> anyhow::Result<String> {
        let contract = Contract::load(proto_root)?;
        let mut channels = Map::new();
        let mut operations = Map::new();
        let mut messages = Map::new();
        let mut versions = std::collections::BTreeSet::new();

        for &schema in SCHEMA_NAMES {
            let (message, field_comments) = contract.message(schema)?;
            let (package, short) = schema
                .rsplit_once('.')
                .context("schema names are qualified")?;
            let version = package.rsplit('.').next().unwrap_or(package);
            versions.insert(version.to_owned());
            let area = package.split('.').nth(1).unwrap_or(package);
            let (address, parameter_fields) = subject_template(schema, message)?;
            let stream = streams::ALL
                .into_iter()
                .find(|stream| {
                    stream
                        .subjects
                        .iter()
                        .any(|filter| matches(filter, &address))
                })
                .with_context(|| format!("no stream captures {address}"))?;
            let parameters: Map<String, Value> = parameter_fields
                .iter()
                .map(|name| {
                    let index = message
                        .field
                        .iter()
                        .position(|f| f.name() == name)
                        .unwrap_or(0);
                    let description = field_comments.get(index).cloned().unwrap_or_default();
                    (
                        name.clone(),
                        json!({ "description": format!("`{name}` of the event: {description}") }),
                    )
                })
                .collect();
            let Some(Definition::Message { comment, .. }) = contract.definitions.get(schema) else {
                unreachable!("contract.message found it");
            };

            for live in [false, true] {
                let (id, channel_address, stream_header) = if live {
                    (
                        format!("live{short}"),
                        subjects::live(&address),
                        Some(stream.name),
                    )
                } else {
                    (short.to_owned(), address.clone(), None)
                };
                let channel_description = if live {
                    format!(
                        "Every {short} stored in stream `{}`, republished by JetStream on the live \
                         subject space `{}` with its stream position in the headers. Take a core \
                         subscription here for cheap fan-out; fill gaps by `Nats-Sequence` with \
                         direct gets on the stream.",
                        stream.name, stream.republish.destination
                    )
                } else {
                    format!(
                        "{short} events, stored in JetStream stream `{}` (subjects `{}`). \
                         Durable consumers read them from the stream.",
                        stream.name,
                        stream.subjects.join("`, `")
                    )
                };
                messages.insert(
                    id.clone(),
                    json!({
                        "name": schema,
                        "title": short,
                        "summary": comment.lines().next().unwrap_or_default(),
                        "description": comment,
                        "contentType": headers::CONTENT_TYPE_PROTOBUF,
                        "headers": event_headers(schema, stream_header),
                        "payload": { "$ref": schema_ref(schema) },
                        "tags": [{ "name": area }, { "name": version }],
                    }),
                );
                channels.insert(
                    id.clone(),
                    json!({
                        "address": channel_address,
                        "title": if live { format!("live {short}") } else { short.to_owned() },
                        "description": channel_description,
                        "parameters": parameters,
                        "messages": { short: { "$ref": format!("#/components/messages/{id}") } },
                    }),
                );
                operations.insert(
                    format!("send{id}"),
                    json!({
                        "action": "send",
                        "title": format!("publish {}", if live { format!("live {short}") } else { short.to_owned() }),
                        "channel": { "$ref": format!("#/channels/{id}") },
                        "messages": [{ "$ref": format!("#/channels/{id}/messages/{short}") }],
                    }),
                );
            }
        }

        let schemas: Map<String, Value> = contract
            .definitions
            .iter()
            .map(|(name, definition)| (name.clone(), definition_schema(name, definition)))
            .collect();
        let document = json!({
            "asyncapi": "3.0.0",
            "info": {
                "title": "OrderFlow events",
                "version": versions.into_iter().collect::<Vec<_>>().join(","),
                "description": "Events of the OrderFlow order platform on NATS JetStream. \
                    GENERATED by `cargo xtask codegen` from proto-schemas/*.proto and the \
                    orderflow-events crate; do not edit. Payloads are protobuf (binary); the \
                    schemas below describe them in the proto3 JSON mapping (lowerCamelCase \
                    names, 64-bit integers as strings, enums by name, timestamps as RFC 3339), \
                    with each field's protobuf number and name in `x-protobuf-field` and \
                    `x-protobuf-name`. Decode by the `Orderflow-Schema` header. Operations are \
                    written from OrderFlow's side (it sends every event); subscribers receive \
                    them. See proto-schemas/README.md.",
            },
            "defaultContentType": headers::CONTENT_TYPE_PROTOBUF,
            "servers": {
                "local": {
                    "host": "localhost:4222",
                    "protocol": "nats",
                    "description": "A NATS server with JetStream; localhost:4222 is the \
                        NATS default. Streams: ORDERS and INVENTORY.",
                },
            },
            "channels": channels,
            "operations": operations,
            "components": { "messages": messages, "schemas": schemas },
        });
        let mut text = serde_json::to_string_pretty(&sorted(document))?;
        text.push('\n');
        Ok(text)
    }

    /// `value` with every object's keys in sorted order, whichever map type serde_json
    /// was built with (its `preserve_order` feature would keep insertion order), so the
    /// output is byte-for-byte stable.
    fn sorted(value: Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(String, Value)> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
            }
            Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn generated(proto_root: &Path) -> Value {
        serde_json::from_str(&asyncapi::document(proto_root).unwrap()).unwrap()
    }

    #[test]
    fn committed_asyncapi_document_is_fresh() {
        let root = workspace_root();
        let fresh = asyncapi::document(&root.join(generate::PROTO_DIR)).unwrap();
        let committed = std::fs::read_to_string(root.join(ASYNCAPI_FILE)).unwrap_or_default();
        // Not assert_eq!: a diff of two 60 KB strings helps nobody.
        assert!(
            fresh == committed,
            "{ASYNCAPI_FILE} is stale; run `cargo xtask codegen` and commit the result"
        );
    }

    #[test]
    fn asyncapi_document_has_every_subject_with_its_headers() {
        let doc = generated(&workspace_root().join(generate::PROTO_DIR));
        let channels = doc["channels"].as_object().unwrap();
        assert_eq!(channels.len(), 2 * orderflow_events::SCHEMA_NAMES.len());
        let created = &doc["channels"]["OrderCreated"];
        assert_eq!(
            created["address"],
            "orders.v1.{customer_id}.{order_id}.created"
        );
        assert!(created["parameters"]["customer_id"]["description"].is_string());
        assert_eq!(
            doc["channels"]["liveOrderCreated"]["address"],
            "live.orders.v1.{customer_id}.{order_id}.created"
        );
        assert_eq!(
            doc["channels"]["StockLevelChanged"]["address"],
            "inventory.v1.products.{sku}.stock_level_changed"
        );
        assert_eq!(
            doc["channels"]["ReservationRejected"]["address"],
            "inventory.v1.reservations.{customer_id}.{order_id}.rejected"
        );
        let stored = &doc["components"]["messages"]["OrderCreated"]["headers"];
        assert_eq!(
            stored["properties"]["Orderflow-Schema"]["const"],
            "orderflow.orders.v1.OrderCreated"
        );
        assert!(stored["properties"]["Nats-Sequence"].is_null());
        let live = &doc["components"]["messages"]["liveOrderCreated"]["headers"];
        assert_eq!(live["properties"]["Nats-Stream"]["const"], "ORDERS");
        assert!(
            live["required"]
                .as_array()
                .unwrap()
                .contains(&"Nats-Sequence".into())
        );
        let status = &doc["components"]["schemas"]["orderflow.orders.v1.OrderStatus"];
        assert_eq!(status["oneOf"][1]["const"], "ORDER_STATUS_DRAFT");
    }

    /// The drift test: a field added to a `.proto` file (in a copy) shows up in the
    /// document, with its type, number and comment, so the committed document (checked
    /// by `committed_asyncapi_document_is_fresh` and `cargo xtask codegen --check`) goes
    /// stale whenever a proto changes without it.
    #[test]
    fn asyncapi_document_follows_proto_changes() {
        let root = workspace_root().join(generate::PROTO_DIR);
        let copy = tempfile::tempdir().unwrap();
        for file in generate::proto_files(&root).unwrap() {
            let target = copy.path().join(file.strip_prefix(&root).unwrap());
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(&file, target).unwrap();
        }
        let events = copy.path().join("orderflow/orders/v1/events.proto");
        let text = std::fs::read_to_string(&events).unwrap();
        let anchor = "  google.protobuf.Timestamp created_at = 9;\n}";
        assert!(text.contains(anchor), "test anchor moved; update this test");
        let changed = text.replace(
            anchor,
            "  google.protobuf.Timestamp created_at = 9;\n\n  \
             // Discount code applied at checkout.\n  int64 coupon_code = 10;\n}",
        );
        std::fs::write(&events, changed).unwrap();

        let before = asyncapi::document(&root).unwrap();
        let after = asyncapi::document(copy.path()).unwrap();
        assert_ne!(before, after);
        let doc: Value = serde_json::from_str(&after).unwrap();
        let field = &doc["components"]["schemas"]["orderflow.orders.v1.OrderCreated"]["properties"]
            ["couponCode"];
        assert_eq!(field["description"], "Discount code applied at checkout.");
        assert_eq!(field["format"], "int64");
        assert_eq!(field["x-protobuf-field"], 10);
        assert_eq!(field["x-protobuf-name"], "coupon_code");
    }

    /// Validates a freshly generated document with the official AsyncAPI parser
    /// (`proto-schemas/asyncapi-validator`, installed with `npm ci` on first use).
    #[test]
    fn asyncapi_document_passes_the_official_parser() {
        let root = workspace_root();
        let document = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            document.path(),
            asyncapi::document(&root.join(generate::PROTO_DIR)).unwrap(),
        )
        .unwrap();
        let validator = root.join("proto-schemas/asyncapi-validator");
        npm_ci_if_missing(&validator).unwrap();
        let output = Command::new("node")
            .arg("validate.mjs")
            .arg(document.path())
            .current_dir(&validator)
            .output()
            .expect("node must be installed");
        assert!(
            output.status.success(),
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
