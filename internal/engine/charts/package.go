package charts

import (
	"fmt"
	"os"

	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"

	"github.com/kdu-io/kdu/internal/engine"
)

// PackageDir packages a chart directory into a .tgz as `helm package` does: with Helm's loader, so
// .helmignore is honoured and the chart is checked on the way. It is for sending a local chart to a server.
func PackageDir(dir string) ([]byte, error) {
	c, err := loadDir(dir)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "kdu-package-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	file, err := chartutil.Save(c, tmp)
	if err != nil {
		return nil, fmt.Errorf("%w: packaging %s: %w", engine.ErrInvalidChart, dir, err)
	}
	data, err := readLocal(file, MaxChartArchiveSize)
	if err != nil {
		return nil, fmt.Errorf("packaging %s: %w", dir, err)
	}
	return data, nil
}

// ReadArchive reads a chart .tgz from disk, refusing one larger than a chart archive may be.
func ReadArchive(path string) ([]byte, error) {
	return readLocal(path, MaxChartArchiveSize)
}
