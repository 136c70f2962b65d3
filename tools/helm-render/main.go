// helm-render renders a Helm chart offline, the way `helm template` does, for charts that keep to
// the features listed in docs/deployment.md ("What the chart checker covers"). There is no helm
// binary in Debian; this tool lets the test suite render deploy/helm/gridflow with every example
// values file and fail on any template error.
//
//	helm-render --chart DIR [-f values.yaml]... [--release NAME] [--namespace NS]
//	            [--kube-version 1.29.0] [--api-versions monitoring.coreos.com/v1]...
//	            [--values-out merged.json] [--notes]
//
// The manifests go to stdout as one YAML stream, each document preceded by "# Source: <file>".
// Like helm, it validates the merged values against the chart's values.schema.json, renders with
// Go's text/template, Sprig and Helm's own functions, and drops templates that render to nothing.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/semver"
	"github.com/Masterminds/sprig"
	"github.com/xeipuuv/gojsonschema"
	yamlv2 "gopkg.in/yaml.v2"
	yaml "gopkg.in/yaml.v3"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	chartDir := flag.String("chart", "", "chart directory")
	release := flag.String("release", "gridflow", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	kubeVersion := flag.String("kube-version", "1.29.0", "Kubernetes version for .Capabilities")
	valuesOut := flag.String("values-out", "", "write the merged values as JSON to this file")
	notes := flag.Bool("notes", false, "also print the rendered NOTES.txt (to stderr)")
	var valueFiles, apiVersions listFlag
	flag.Var(&valueFiles, "f", "values file (repeatable; later files win)")
	flag.Var(&apiVersions, "api-versions", "extra API versions for .Capabilities.APIVersions")
	flag.Parse()
	if *chartDir == "" {
		fail(errors.New("--chart is required"))
	}
	out, notesText, merged, err := render(*chartDir, valueFiles, releaseInfo(*release, *namespace),
		capabilities(*kubeVersion, apiVersions))
	if err != nil {
		fail(err)
	}
	if *valuesOut != "" {
		data, _ := json.MarshalIndent(merged, "", "  ")
		if err := os.WriteFile(*valuesOut, data, 0o644); err != nil {
			fail(err)
		}
	}
	os.Stdout.WriteString(out)
	if *notes {
		os.Stderr.WriteString(notesText)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "helm-render: %v\n", err)
	os.Exit(1)
}

func releaseInfo(name, namespace string) map[string]interface{} {
	return map[string]interface{}{
		"Name": name, "Namespace": namespace, "Service": "Helm",
		"IsInstall": true, "IsUpgrade": false, "Revision": 1,
	}
}

// apiVersionSet answers .Capabilities.APIVersions.Has "group/version" (or "group/version/Kind").
type apiVersionSet []string

func (s apiVersionSet) Has(v string) bool {
	for _, have := range s {
		if have == v || strings.HasPrefix(v, have+"/") {
			return true
		}
	}
	return false
}

func capabilities(kubeVersion string, extra []string) map[string]interface{} {
	parts := strings.SplitN(strings.TrimPrefix(kubeVersion, "v"), ".", 3)
	for len(parts) < 3 {
		parts = append(parts, "0")
	}
	versions := apiVersionSet{"v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v2",
		"networking.k8s.io/v1", "rbac.authorization.k8s.io/v1"}
	versions = append(versions, extra...)
	return map[string]interface{}{
		"KubeVersion": map[string]interface{}{
			"Version": "v" + strings.Join(parts, "."), "GitVersion": "v" + strings.Join(parts, "."),
			"Major": parts[0], "Minor": parts[1],
		},
		"APIVersions": versions,
		"HelmVersion": map[string]interface{}{"Version": "v3.14.0"},
	}
}

// ---- values ----

// decodeYAML parses a YAML map into JSON-shaped data (map[string]interface{}, float64 numbers), as
// helm does by converting YAML to JSON: `eq .Values.n 3` is false in helm and here alike.
func decodeYAML(raw []byte) (map[string]interface{}, error) {
	var doc interface{}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	out := map[string]interface{}{}
	if doc == nil {
		return out, nil
	}
	asJSON, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(asJSON, &out); err != nil {
		return nil, fmt.Errorf("the top level must be a map: %v", err)
	}
	return out, nil
}

func readYAML(path string) (map[string]interface{}, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out, err := decodeYAML(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return out, nil
}

// mergeValues lays `over` onto `base` as helm does: maps merge key by key, anything else replaces,
// and null deletes the key.
func mergeValues(base, over map[string]interface{}) map[string]interface{} {
	out := map[string]interface{}{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if v == nil {
			delete(out, k)
			continue
		}
		baseMap, baseIsMap := out[k].(map[string]interface{})
		overMap, overIsMap := v.(map[string]interface{})
		if baseIsMap && overIsMap {
			out[k] = mergeValues(baseMap, overMap)
		} else {
			out[k] = v
		}
	}
	return out
}

func validateValues(chartDir string, values map[string]interface{}) error {
	schemaPath := filepath.Join(chartDir, "values.schema.json")
	schema, err := os.ReadFile(schemaPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	result, err := gojsonschema.Validate(gojsonschema.NewBytesLoader(schema),
		gojsonschema.NewGoLoader(values))
	if err != nil {
		return fmt.Errorf("values.schema.json: %v", err)
	}
	if result.Valid() {
		return nil
	}
	var msgs []string
	for _, e := range result.Errors() {
		msgs = append(msgs, "- "+e.String())
	}
	return fmt.Errorf("values don't meet the specifications of the schema(s):\n%s",
		strings.Join(msgs, "\n"))
}

// ---- files and templates ----

type chartFiles map[string][]byte

func (f chartFiles) Get(name string) string      { return string(f[name]) }
func (f chartFiles) GetBytes(name string) []byte { return f[name] }
func (f chartFiles) Lines(name string) []string {
	return strings.Split(strings.TrimRight(string(f[name]), "\n"), "\n")
}

// loadFiles reads every file of the chart but templates/, Chart.yaml and values files, for .Files.
func loadFiles(chartDir string) (chartFiles, error) {
	files := chartFiles{}
	err := filepath.WalkDir(chartDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(chartDir, path)
		if d.IsDir() {
			if rel == "templates" {
				return filepath.SkipDir
			}
			return nil
		}
		data, err := os.ReadFile(path) // follows symbolic links, as helm does
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = data
		return nil
	})
	return files, err
}

func toYAML(v interface{}) string {
	// helm's toYaml: JSON first (so struct tags and number forms match), then YAML with sorted keys.
	asJSON, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var generic interface{}
	if err := yamlv2.Unmarshal(asJSON, &generic); err != nil {
		return ""
	}
	out, err := yamlv2.Marshal(generic)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(out), "\n")
}

func fromYAML(s string) map[string]interface{} {
	out, err := decodeYAML([]byte(s))
	if err != nil {
		return map[string]interface{}{"Error": err.Error()}
	}
	return out
}

func toJSON(v interface{}) string {
	out, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(out)
}

func fromJSON(s string) map[string]interface{} {
	out := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		out["Error"] = err.Error()
	}
	return out
}

func funcMap(t *template.Template, includeDepth map[string]int) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env") // helm removes these: a chart must not read the renderer's environment
	delete(f, "expandenv")
	f["toYaml"] = toYAML
	f["fromYaml"] = fromYAML
	f["toJson"] = toJSON
	f["fromJson"] = fromJSON
	f["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return nil, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return nil, errors.New(msg)
		}
		return v, nil
	}
	f["include"] = func(name string, data interface{}) (string, error) {
		if includeDepth[name] > 1000 {
			return "", fmt.Errorf("include %q: recursion too deep", name)
		}
		includeDepth[name]++
		defer func() { includeDepth[name]-- }()
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		clone, err := t.Clone()
		if err != nil {
			return "", err
		}
		inline, err := clone.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		if err := inline.Execute(&buf, data); err != nil {
			return "", err
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	// `helm template` has no cluster to look up: lookup answers an empty map, as it does there.
	f["lookup"] = func(string, string, string, string) map[string]interface{} {
		return map[string]interface{}{}
	}
	return f
}

func render(chartDir string, valueFiles []string, release, caps map[string]interface{}) (
	string, string, map[string]interface{}, error) {
	chartMeta, err := readYAML(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return "", "", nil, err
	}
	chartName, _ := chartMeta["name"].(string)
	if chartName == "" {
		return "", "", nil, errors.New("Chart.yaml: name is required")
	}
	if constraint, _ := chartMeta["kubeVersion"].(string); constraint != "" {
		c, err := semver.NewConstraint(constraint)
		if err != nil {
			return "", "", nil, fmt.Errorf("Chart.yaml: kubeVersion: %v", err)
		}
		kube := caps["KubeVersion"].(map[string]interface{})["Version"].(string)
		if v, err := semver.NewVersion(kube); err != nil || !c.Check(v) {
			return "", "", nil, fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", constraint, kube)
		}
	}
	chart := map[string]interface{}{}
	for k, v := range chartMeta { // helm exposes Chart.yaml's fields capitalised
		chart[strings.ToUpper(k[:1])+k[1:]] = v
	}
	values, err := readYAML(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return "", "", nil, err
	}
	for _, path := range valueFiles {
		over, err := readYAML(path)
		if err != nil {
			return "", "", nil, err
		}
		values = mergeValues(values, over)
	}
	if err := validateValues(chartDir, values); err != nil {
		return "", "", nil, err
	}
	files, err := loadFiles(chartDir)
	if err != nil {
		return "", "", nil, err
	}

	// Every file under templates/ joins one template set, named "<chart>/templates/<path>".
	root := template.New(chartName)
	includeDepth := map[string]int{}
	root.Funcs(funcMap(root, includeDepth)).Option("missingkey=zero")
	var names []string
	templatesDir := filepath.Join(chartDir, "templates")
	err = filepath.WalkDir(templatesDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(chartDir, path)
		name := chartName + "/" + filepath.ToSlash(rel)
		text, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if _, err := root.New(name).Parse(string(text)); err != nil {
			return err
		}
		names = append(names, name)
		return nil
	})
	if err != nil {
		return "", "", nil, err
	}
	sort.Strings(names)

	var manifests strings.Builder
	var notes string
	for _, name := range names {
		base := filepath.Base(name)
		if strings.HasPrefix(base, "_") {
			continue // partials: only for include
		}
		data := map[string]interface{}{
			"Values": values, "Release": release, "Chart": chart, "Capabilities": caps,
			"Files": files,
			"Template": map[string]interface{}{
				"Name": name, "BasePath": chartName + "/templates",
			},
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, data); err != nil {
			return "", "", nil, err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if base == "NOTES.txt" {
			notes = text
			continue
		}
		for _, doc := range splitDocuments(text) {
			manifests.WriteString("---\n# Source: " + name + "\n" + doc + "\n")
		}
	}
	return manifests.String(), notes, values, nil
}

// splitDocuments splits a rendered template at "---" lines and drops empty documents.
func splitDocuments(text string) []string {
	var docs []string
	var current []string
	flush := func() {
		doc := strings.TrimSpace(strings.Join(current, "\n"))
		current = nil
		meaningful := false
		for _, line := range strings.Split(doc, "\n") {
			trimmed := strings.TrimSpace(line)
			if trimmed != "" && !strings.HasPrefix(trimmed, "#") {
				meaningful = true
				break
			}
		}
		if meaningful {
			docs = append(docs, doc)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimRight(line, " \t") == "---" {
			flush()
			continue
		}
		current = append(current, line)
	}
	flush()
	return docs
}
