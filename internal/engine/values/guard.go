package values

import (
	"fmt"

	"sigs.k8s.io/yaml"

	"github.com/kdu-io/kdu/internal/chartsafe"
)

// MaxAliasNodes is the most nodes one YAML document may stand for once its aliases ("*name" references to
// "&name" anchors, "<<" merge keys included) are expanded. It is the budget of kdu's one YAML alias guard
// (chartsafe.CheckAliases), which every chart file and every values file or parameter goes through.
const MaxAliasNodes = chartsafe.DefaultMaxYAMLNodes

// unmarshalDoc decodes one YAML document into plain data after checking its alias expansion budget.
func unmarshalDoc(doc []byte) (any, error) {
	if err := chartsafe.CheckAliases("", doc, MaxAliasNodes); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrValuesTooLarge, err)
	}
	var v any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		return nil, err
	}
	return v, nil
}
