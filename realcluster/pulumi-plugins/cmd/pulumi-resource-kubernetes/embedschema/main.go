// Command embedschema writes the two files the provider plugin embeds, as the
// provider's own generate step does: the package schema with its version set, and
// the Terraform mapping, both re-serialised compactly.
//
//	embedschema SRC_DIR DST_DIR VERSION
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: embedschema SRC_DIR DST_DIR VERSION")
		os.Exit(2)
	}
	src, dst, version := os.Args[1], os.Args[2], os.Args[3]

	var schema map[string]json.RawMessage
	read(filepath.Join(src, "schema.json"), &schema)
	v, err := json.Marshal(version)
	check(err)
	schema["version"] = v
	write(filepath.Join(dst, "schema-embed.json"), schema)

	var mapping any
	read(filepath.Join(src, "terraform-mapping.json"), &mapping)
	write(filepath.Join(dst, "terraform-mapping-embed.json"), mapping)
}

func read(path string, v any) {
	b, err := os.ReadFile(path)
	check(err)
	check(json.Unmarshal(b, v))
}

func write(path string, v any) {
	b, err := json.Marshal(v)
	check(err)
	check(os.WriteFile(path, b, 0o644))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "embedschema:", err)
		os.Exit(1)
	}
}
