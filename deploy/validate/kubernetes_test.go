package validate

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/cairnkv/cairn/internal/app"
)

var k8sDir = filepath.Join(repo, "deploy/kubernetes")

// manifests are the decoded objects of deploy/kubernetes, by kind.
type manifests struct {
	services        []*corev1.Service
	configMaps      []*corev1.ConfigMap
	statefulSets    []*appsv1.StatefulSet
	pdbs            []*policyv1.PodDisruptionBudget
	serviceMonitors []*monitoringv1.ServiceMonitor
	prometheusRules []*monitoringv1.PrometheusRule
}

// loadManifests decodes every YAML document under deploy/kubernetes
// strictly (an unknown or misspelt field, a wrong type, a duplicate key is
// an error) into the Kubernetes API type of its kind.
func loadManifests(t *testing.T) manifests {
	t.Helper()
	var m manifests
	err := filepath.WalkDir(k8sDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if filepath.Ext(path) != ".yaml" {
			t.Errorf("%s: not a .yaml file", path)
			return nil
		}
		f, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(f)))
		for i := 0; ; i++ {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			if len(bytes.TrimSpace(stripComments(doc))) == 0 {
				continue
			}
			if err := m.decode(doc); err != nil {
				t.Errorf("%s, document %d: %v", path, i+1, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func stripComments(doc []byte) []byte {
	var out bytes.Buffer
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			out.Write(l)
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}

func (m *manifests) decode(doc []byte) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	strict := func(v interface{ GetNamespace() string }) error {
		if err := yaml.UnmarshalStrict(doc, v); err != nil {
			return err
		}
		if ns := v.GetNamespace(); ns != "" {
			return errors.New("a namespace is set (" + ns + "): the manifests go wherever kubectl -n puts them")
		}
		return nil
	}
	switch tm.APIVersion + " " + tm.Kind {
	case "v1 Service":
		o := new(corev1.Service)
		m.services = append(m.services, o)
		return strict(o)
	case "v1 ConfigMap":
		o := new(corev1.ConfigMap)
		m.configMaps = append(m.configMaps, o)
		return strict(o)
	case "apps/v1 StatefulSet":
		o := new(appsv1.StatefulSet)
		m.statefulSets = append(m.statefulSets, o)
		return strict(o)
	case "policy/v1 PodDisruptionBudget":
		o := new(policyv1.PodDisruptionBudget)
		m.pdbs = append(m.pdbs, o)
		return strict(o)
	case "monitoring.coreos.com/v1 ServiceMonitor":
		o := new(monitoringv1.ServiceMonitor)
		m.serviceMonitors = append(m.serviceMonitors, o)
		return strict(o)
	case "monitoring.coreos.com/v1 PrometheusRule":
		o := new(monitoringv1.PrometheusRule)
		m.prometheusRules = append(m.prometheusRules, o)
		return strict(o)
	}
	return errors.New("unexpected kind " + tm.APIVersion + " " + tm.Kind)
}

func (m manifests) service(t *testing.T, name string) *corev1.Service {
	t.Helper()
	for _, s := range m.services {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no Service %s", name)
	return nil
}

func selects(t *testing.T, sel *metav1.LabelSelector, l map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatal(err)
	}
	return !s.Empty() && s.Matches(labels.Set(l))
}

// TestKubernetes checks that the manifests decode strictly and fit
// together: the StatefulSet, its headless Service, the client Service, the
// PodDisruptionBudget, the ServiceMonitor and the configuration each pod
// gets, which the server's own configuration code must accept.
func TestKubernetes(t *testing.T) {
	t.Parallel()
	m := loadManifests(t)
	if len(m.statefulSets) != 1 || len(m.configMaps) != 1 || len(m.pdbs) != 1 || len(m.serviceMonitors) != 1 || len(m.services) != 2 {
		t.Fatalf("want 1 StatefulSet, 1 ConfigMap, 1 PodDisruptionBudget, 1 ServiceMonitor and 2 Services; got %d, %d, %d, %d, %d",
			len(m.statefulSets), len(m.configMaps), len(m.pdbs), len(m.serviceMonitors), len(m.services))
	}
	sts := m.statefulSets[0]
	pod := sts.Spec.Template
	if !selects(t, sts.Spec.Selector, pod.Labels) {
		t.Errorf("the StatefulSet's selector does not select its pods' labels %v", pod.Labels)
	}
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != 3 {
		t.Errorf("replicas %v, want 3", sts.Spec.Replicas)
	}
	if sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("podManagementPolicy %q, want Parallel: the members must start together to elect a leader", sts.Spec.PodManagementPolicy)
	}

	// The headless Service: stable names, not-ready members published.
	headless := m.service(t, sts.Spec.ServiceName)
	if headless.Spec.ClusterIP != corev1.ClusterIPNone || !headless.Spec.PublishNotReadyAddresses {
		t.Errorf("Service %s: clusterIP %q, publishNotReadyAddresses %v; want None and true", headless.Name, headless.Spec.ClusterIP, headless.Spec.PublishNotReadyAddresses)
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	containerPorts := map[string]int32{}
	for _, p := range c.Ports {
		containerPorts[p.Name] = p.ContainerPort
	}
	if containerPorts["client"] != 2379 || containerPorts["peer"] != 2380 {
		t.Errorf("container ports %v, want client 2379 and peer 2380", containerPorts)
	}
	for _, s := range m.services {
		if !selects(t, &metav1.LabelSelector{MatchLabels: s.Spec.Selector}, pod.Labels) {
			t.Errorf("Service %s does not select the members (%v)", s.Name, s.Spec.Selector)
		}
		for _, p := range s.Spec.Ports {
			if _, ok := containerPorts[p.TargetPort.String()]; !ok {
				t.Errorf("Service %s: port %s targets %q, which the container does not name", s.Name, p.Name, p.TargetPort.String())
			}
		}
	}
	client := m.service(t, "cairn")
	if client.Spec.ClusterIP == corev1.ClusterIPNone || client.Spec.PublishNotReadyAddresses {
		t.Errorf("the client Service must send to ready members only")
	}

	// Probes, resources, placement, security.
	probe := func(name string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "client" {
			t.Errorf("%s probe: %+v, want GET %s on the client port", name, p, path)
		}
	}
	probe("readiness", c.ReadinessProbe, "/readyz")
	probe("liveness", c.LivenessProbe, "/healthz")
	probe("startup", c.StartupProbe, "/healthz")
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := c.Resources.Requests[r]; !ok || q.Cmp(resource.MustParse("0")) <= 0 {
			t.Errorf("no %s request", r)
		}
	}
	aa := pod.Spec.Affinity
	if aa == nil || aa.PodAntiAffinity == nil || len(aa.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution)+len(aa.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) == 0 {
		t.Error("no pod anti-affinity")
	} else {
		for _, term := range aa.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			if !selects(t, term.PodAffinityTerm.LabelSelector, pod.Labels) || term.PodAffinityTerm.TopologyKey == "" {
				t.Errorf("the anti-affinity term does not keep members apart: %+v", term.PodAffinityTerm)
			}
		}
	}
	sc := pod.Spec.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || sc.FSGroup == nil {
		t.Errorf("pod security context %+v: want runAsNonRoot, runAsUser and fsGroup", sc)
	} else if strconv.FormatInt(*sc.RunAsUser, 10) != dockerfileUser(t) {
		t.Errorf("runAsUser %d, the image's USER %s", *sc.RunAsUser, dockerfileUser(t))
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g == nil || *g < 20 {
		t.Errorf("terminationGracePeriodSeconds %v: a graceful stop needs --shutdown-timeout (10s) and more", g)
	}

	// The PodDisruptionBudget.
	pdb := m.pdbs[0]
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || !selects(t, pdb.Spec.Selector, pod.Labels) {
		t.Errorf("PodDisruptionBudget: maxUnavailable %v, selector %v; want 1 and the members", pdb.Spec.MaxUnavailable, pdb.Spec.Selector)
	}

	// The ServiceMonitor scrapes every member, ready or not, through the
	// headless Service, with the job the alerts select.
	sm := m.serviceMonitors[0]
	if !selects(t, &sm.Spec.Selector, headless.Labels) || selects(t, &sm.Spec.Selector, client.Labels) {
		t.Errorf("the ServiceMonitor must select the headless Service %s (labels %v) and not %s", headless.Name, headless.Labels, client.Name)
	}
	if job := headless.Labels[sm.Spec.JobLabel]; !regexp.MustCompile(`^.*cairn.*$`).MatchString(job) {
		t.Errorf("the ServiceMonitor's job would be %q, which the alerts (job=~\".*cairn.*\") do not select", job)
	}
	for _, e := range sm.Spec.Endpoints {
		found := false
		for _, p := range headless.Spec.Ports {
			found = found || p.Name == e.Port
		}
		if !found || e.Path != "/metrics" {
			t.Errorf("ServiceMonitor endpoint port %q path %q: want a port of %s and /metrics", e.Port, e.Path, headless.Name)
		}
	}

	checkPodConfigs(t, m, sts, headless)
}

// checkPodConfigs builds the configuration of each pod of the StatefulSet
// as Kubernetes and the server would (the environment with its $(VAR)
// references expanded, the ConfigMap's files where the pod mounts them),
// loads it with the server's configuration code, and checks that the
// members find each other by their stable names.
func checkPodConfigs(t *testing.T, m manifests, sts *appsv1.StatefulSet, headless *corev1.Service) {
	t.Helper()
	pod := sts.Spec.Template.Spec
	c := pod.Containers[0]
	cm := m.configMaps[0]
	files := t.TempDir()
	for name, data := range cm.Data {
		if err := os.WriteFile(filepath.Join(files, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mounts := map[string]string{} // mount path → where the test put it
	var dataDir string
	for _, vm := range c.VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name == vm.Name && v.ConfigMap != nil {
				if v.ConfigMap.Name != cm.Name {
					t.Errorf("volume %s mounts ConfigMap %s, not %s", v.Name, v.ConfigMap.Name, cm.Name)
				}
				mounts[vm.MountPath] = files
			}
		}
		for _, vct := range sts.Spec.VolumeClaimTemplates {
			if vct.Name == vm.Name {
				dataDir = vm.MountPath
			}
		}
	}
	const namespace = "cairn-test"
	replicas := int(*sts.Spec.Replicas)
	var podNames []string
	for i := range replicas {
		podNames = append(podNames, sts.Name+"-"+strconv.Itoa(i))
	}
	for _, podName := range podNames {
		environ, env := expandEnv(t, c.Env, map[string]string{"metadata.name": podName, "metadata.namespace": namespace})
		for mountPath, dir := range mounts {
			if f, ok := strings.CutPrefix(env["CAIRN_CONFIG_FILE"], mountPath+"/"); ok {
				environ = append(environ, "CAIRN_CONFIG_FILE="+filepath.Join(dir, f))
			}
		}
		cfg, err := app.LoadConfigTo(nil, environ, io.Discard)
		if err == nil {
			err = cfg.Validate()
		}
		if err != nil {
			t.Errorf("pod %s: the server refuses its configuration: %v", podName, err)
			continue
		}
		if cfg.Name != podName || cfg.DataDir != dataDir {
			t.Errorf("pod %s: name %q, data dir %q; want the pod's name and the volume %q", podName, cfg.Name, cfg.DataDir, dataDir)
		}
		var names []string
		for _, p := range cfg.InitialCluster {
			names = append(names, p.Name)
			u, _ := url.Parse(p.URL)
			if u.Hostname() != p.Name+"."+headless.Name || u.Port() != "2380" {
				t.Errorf("pod %s: --initial-cluster member %s at %s: want %s.%s:2380, its stable name", podName, p.Name, p.URL, p.Name, headless.Name)
			}
		}
		sort.Strings(names)
		if strings.Join(names, ",") != strings.Join(podNames, ",") {
			t.Errorf("pod %s: --initial-cluster has %v, the StatefulSet's pods are %v", podName, names, podNames)
		}
		if u, _ := url.Parse(cfg.AdvertiseClientURLs[0]); !strings.HasPrefix(u.Hostname(), podName+"."+headless.Name+".") {
			t.Errorf("pod %s: advertised client URL %s is not its stable name", podName, cfg.AdvertiseClientURLs[0])
		}
		if cfg.ShutdownTimeout+5*time.Second > time.Duration(graceSeconds(pod.TerminationGracePeriodSeconds))*time.Second {
			t.Errorf("pod %s: --shutdown-timeout %v does not fit in the grace period", podName, cfg.ShutdownTimeout)
		}
	}

	// The file the ConfigMap's comment shows for a new member (and a member
	// whose volume was lost) is accepted too, and joins through the client
	// Service.
	raw, err := os.ReadFile(filepath.Join(k8sDir, "configmap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(joinFileComment)) {
		t.Fatalf("configmap.yaml does not show the join file:\n%s", joinFileComment)
	}
	newPod := sts.Name + "-" + strconv.Itoa(replicas)
	path := filepath.Join(files, newPod+".yaml")
	if err := os.WriteFile(path, []byte(joinFile), 0o600); err != nil {
		t.Fatal(err)
	}
	environ, _ := expandEnv(t, c.Env, map[string]string{"metadata.name": newPod, "metadata.namespace": namespace})
	cfg, err := app.LoadConfigTo(nil, append(environ, "CAIRN_CONFIG_FILE="+path), io.Discard)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Fatalf("pod %s with the join file: %v", newPod, err)
	}
	if u, _ := url.Parse(cfg.Join); u.Hostname() != "cairn" || u.Port() != "2379" || !cfg.JoinAsLearner {
		t.Errorf("the join file joins %s (learner %v), want the client Service cairn:2379 as a learner", cfg.Join, cfg.JoinAsLearner)
	}
}

// joinFile is the configuration of a member that joins a running cluster
// as a learner, as the ConfigMap's comment and the README show it.
const joinFile = "join: http://cairn:2379\njoin-as-learner: true\n"

var joinFileComment = "#     join: http://cairn:2379\n#     join-as-learner: true\n"

// graceSeconds is a pod's termination grace period (Kubernetes' default: 30 s).
func graceSeconds(secs *int64) int64 {
	if secs == nil {
		return 30
	}
	return *secs
}

// expandEnv returns the container's environment as Kubernetes gives it to
// the process: values from the downward API fields, and $(VAR) references
// to variables defined before expanded.
func expandEnv(t *testing.T, vars []corev1.EnvVar, fields map[string]string) ([]string, map[string]string) {
	t.Helper()
	env := map[string]string{}
	var out []string
	ref := regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	for _, v := range vars {
		val := v.Value
		if v.ValueFrom != nil {
			if v.ValueFrom.FieldRef == nil {
				t.Fatalf("env %s: only fieldRef is understood here", v.Name)
			}
			var ok bool
			if val, ok = fields[v.ValueFrom.FieldRef.FieldPath]; !ok {
				t.Fatalf("env %s: unknown field %s", v.Name, v.ValueFrom.FieldRef.FieldPath)
			}
		}
		val = ref.ReplaceAllStringFunc(val, func(s string) string {
			name := ref.FindStringSubmatch(s)[1]
			if x, ok := env[name]; ok {
				return x
			}
			t.Errorf("env %s refers to $(%s), which is not defined before it", v.Name, name)
			return s
		})
		env[v.Name] = val
		out = append(out, v.Name+"="+val)
	}
	return out, env
}
