// The pulumi-kubernetes provider plugin, as its module's own
// cmd/pulumi-resource-kubernetes builds it. That main package embeds
// schema-embed.json and terraform-mapping-embed.json, which the provider's release
// build generates (`go generate`) and which are therefore not in the published
// module: scripts/realcluster build generates them here with ./embedschema.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
