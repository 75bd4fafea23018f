package app

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeYAML writes body to a file in a fresh temp dir and returns its path.
func writeYAML(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cairn.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func load(t *testing.T, args, environ []string) (Config, error) {
	t.Helper()
	var out bytes.Buffer
	return LoadConfigTo(args, environ, &out)
}

func TestLoadConfig_Defaults(t *testing.T) {
	t.Parallel()
	got, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Name:                    "default",
		DataDir:                 "./default.cairn",
		ListenClientURLs:        []string{"http://127.0.0.1:2379"},
		AdvertiseClientURLs:     []string{"http://127.0.0.1:2379"},
		ListenPeerURL:           "http://127.0.0.1:2380",
		InitialAdvertisePeerURL: "http://127.0.0.1:2380",
		InitialCluster:          []Peer{{"default", "http://127.0.0.1:2380"}},
		InitialClusterState:     "new",
		LogLevel:                "info",
		MaxRequestBytes:         1572864,
		HeartbeatInterval:       100 * time.Millisecond,
		ElectionTimeout:         time.Second,
		RequestTimeout:          5 * time.Second,
		SnapshotCount:           10000,
		SnapshotInterval:        10 * time.Second,
		ShutdownTimeout:         10 * time.Second,
		MaxWatchers:             10000,
		MaxConcurrentStreams:    1000,
		MaxWatchEvents:          1000,
		WatchHeartbeat:          10 * time.Second,
		CorruptCheckInterval:    5 * time.Minute,
		QuotaBackendBytes:       2 << 30,
		AutoCompactionMode:      "periodic",
		AutoCompactionRetention: "1h",
		AuthTokenTTL:            5 * time.Minute,
		BcryptCost:              10,
		WarningApplyDuration:    100 * time.Millisecond,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if !reflect.DeepEqual(got.WithDerivedDefaults(), got) {
		t.Fatal("WithDerivedDefaults changed a complete config")
	}
}

func TestLoadConfig_Precedence(t *testing.T) {
	t.Parallel()
	file := writeYAML(t, "name: file\nheartbeat-interval: 200\nrequest-timeout: 7s\nlog-level: warn\n")
	tests := []struct {
		name    string
		args    []string
		environ []string
		want    string // the resulting Name
	}{
		{name: "Default", want: "default"},
		{name: "FileBeatsDefault", args: []string{"--config-file", file}, want: "file"},
		{name: "EnvFileName", environ: []string{"CAIRN_CONFIG_FILE=" + file}, want: "file"},
		{name: "EnvBeatsFile", args: []string{"--config-file=" + file}, environ: []string{"CAIRN_NAME=env"}, want: "env"},
		{name: "FlagBeatsEnv", args: []string{"--config-file", file, "--name", "flag"}, environ: []string{"CAIRN_NAME=env"}, want: "flag"},
		{name: "SingleDashFlag", args: []string{"-name=flag"}, environ: []string{"CAIRN_NAME=env"}, want: "flag"},
		{name: "EmptyEnvIsUnset", args: []string{"--config-file", file}, environ: []string{"CAIRN_NAME="}, want: "file"},
		{name: "OtherEnvIgnored", environ: []string{"NAME=x", "CAIRN_NOT_A_FLAG=1", "CAIRN_NAME"}, want: "default"},
		{name: "FlagConfigFileBeatsEnv", args: []string{"--config-file", file}, environ: []string{"CAIRN_CONFIG_FILE=/nonexistent.yaml"}, want: "file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := load(t, tt.args, tt.environ)
			if err != nil {
				t.Fatal(err)
			}
			if c.Name != tt.want {
				t.Fatalf("Name = %q, want %q", c.Name, tt.want)
			}
		})
	}

	t.Run("PerField", func(t *testing.T) {
		t.Parallel()
		c, err := load(t,
			[]string{"--config-file", file, "--log-level", "DEBUG"},
			[]string{"CAIRN_HEARTBEAT_INTERVAL=150", "CAIRN_LOG_LEVEL=error"})
		if err != nil {
			t.Fatal(err)
		}
		if c.HeartbeatInterval != 150*time.Millisecond || c.RequestTimeout != 7*time.Second || c.LogLevel != "debug" {
			t.Fatalf("got heartbeat %v, request timeout %v, log level %q", c.HeartbeatInterval, c.RequestTimeout, c.LogLevel)
		}
	})
}

func TestLoadConfig_AllSources(t *testing.T) {
	t.Parallel()
	// Every option through each source, to catch a setter wired to the wrong field.
	want := Config{
		Name:                    "n1",
		DataDir:                 "/var/lib/cairn",
		ListenClientURLs:        []string{"http://0.0.0.0:2379", "http://127.0.0.1:12379"},
		AdvertiseClientURLs:     []string{"http://10.0.0.1:2379"},
		ListenPeerURL:           "http://0.0.0.0:2380",
		InitialAdvertisePeerURL: "http://10.0.0.1:2380",
		InitialCluster:          []Peer{{"n1", "http://10.0.0.1:2380"}, {"n2", "http://10.0.0.2:2380"}},
		InitialClusterState:     "existing",
		LogLevel:                "debug",
		LogFormat:               "console",
		MaxRequestBytes:         4096,
		HeartbeatInterval:       50 * time.Millisecond,
		ElectionTimeout:         500 * time.Millisecond,
		RequestTimeout:          2 * time.Second,
		SnapshotCount:           42,
		SnapshotInterval:        250 * time.Millisecond,
		JoinAsLearner:           false,
		ShutdownTimeout:         3 * time.Second,
		MaxWatchers:             7,
		MaxConcurrentStreams:    1000,
		MaxWatchEvents:          9,
		WatchHeartbeat:          4 * time.Second,
		CorruptCheckInterval:    90 * time.Second,
		QuotaBackendBytes:       16 << 20,
		AutoCompactionMode:      "revision",
		AutoCompactionRetention: "1000",
		AuthTokenTTL:            time.Minute,
		BcryptCost:              12,
		WarningApplyDuration:    250 * time.Millisecond,
		EnablePprof:             true,
	}
	flags := []string{
		"--name=n1", "--data-dir=/var/lib/cairn",
		"--listen-client-urls=http://0.0.0.0:2379, http://127.0.0.1:12379",
		"--advertise-client-urls=http://10.0.0.1:2379",
		"--listen-peer-urls=http://0.0.0.0:2380", "--initial-advertise-peer-urls=http://10.0.0.1:2380",
		"--initial-cluster=n1=http://10.0.0.1:2380,n2=http://10.0.0.2:2380",
		"--initial-cluster-state=existing", "--log-level=debug", "--log-format=console",
		"--max-request-bytes=4096", "--heartbeat-interval=50", "--election-timeout=500ms",
		"--request-timeout=2s", "--snapshot-count=42", "--snapshot-interval=250ms", "--shutdown-timeout=3s",
		"--max-watchers=7", "--max-watch-events=9", "--watch-heartbeat-interval=4s",
		"--corrupt-check-interval=1m30s", "--auth-token-ttl=60", "--bcrypt-cost=12",
		"--quota-backend-bytes=16777216", "--auto-compaction-mode=revision", "--auto-compaction-retention=1000",
		"--warning-apply-duration=250ms", "--enable-pprof=true",
	}
	var environ []string
	var yaml strings.Builder
	for _, f := range flags {
		k, v, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		environ = append(environ, envName(k)+"="+v)
		yaml.WriteString(k + ": \"" + v + "\"\n")
	}
	file := writeYAML(t, yaml.String())

	tests := []struct {
		name    string
		args    []string
		environ []string
	}{
		{name: "Flags", args: flags},
		{name: "Env", environ: environ},
		{name: "File", args: []string{"--config-file", file}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := load(t, tt.args, tt.environ)
			if err != nil {
				t.Fatal(err)
			}
			got.ConfigFile = ""
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
			if err := got.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLoadConfig_Derived(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		environ []string
		yaml    string
		want    func(c Config) bool
	}{
		{
			name: "DataDirFromFinalName",
			yaml: "name: file\n", args: []string{"--name", "flag"},
			want: func(c Config) bool { return c.DataDir == "./flag.cairn" },
		},
		{
			name: "ExplicitDataDirKept",
			yaml: "data-dir: /d\n", args: []string{"--name", "flag"},
			want: func(c Config) bool { return c.DataDir == "/d" },
		},
		{
			name:    "AdvertiseFromListen",
			environ: []string{"CAIRN_LISTEN_CLIENT_URLS=http://127.0.0.1:1,http://127.0.0.1:2"},
			want: func(c Config) bool {
				return reflect.DeepEqual(c.AdvertiseClientURLs, []string{"http://127.0.0.1:1", "http://127.0.0.1:2"})
			},
		},
		{
			name: "ClusterFromNameAndAdvertisePeer",
			yaml: "listen-peer-urls: http://127.0.0.1:9\n",
			args: []string{"--name", "solo", "--initial-advertise-peer-urls", "http://127.0.0.1:7"},
			want: func(c Config) bool {
				return c.ListenPeerURL == "http://127.0.0.1:9" &&
					reflect.DeepEqual(c.InitialCluster, []Peer{{"solo", "http://127.0.0.1:7"}})
			},
		},
		{
			name: "AdvertisePeerFromListen",
			args: []string{"--listen-peer-urls", "http://127.0.0.1:9"},
			want: func(c Config) bool {
				return c.InitialAdvertisePeerURL == "http://127.0.0.1:9" && c.InitialCluster[0].URL == "http://127.0.0.1:9"
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := tt.args
			if tt.yaml != "" {
				args = append([]string{"--config-file", writeYAML(t, tt.yaml)}, args...)
			}
			c, err := load(t, args, tt.environ)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(c) {
				t.Fatalf("unexpected config %+v", c)
			}
		})
	}
}

func TestLoadConfig_YAMLLists(t *testing.T) {
	t.Parallel()
	wantURLs := []string{"http://127.0.0.1:1", "http://127.0.0.1:2"}
	wantPeers := []Peer{{"a", "http://127.0.0.1:3"}, {"b", "http://127.0.0.1:4"}}
	tests := []struct {
		name string
		yaml string
	}{
		{name: "CommaString", yaml: "listen-client-urls: http://127.0.0.1:1,http://127.0.0.1:2\n" +
			"initial-cluster: a=http://127.0.0.1:3,b=http://127.0.0.1:4\n"},
		{name: "List", yaml: "listen-client-urls:\n  - http://127.0.0.1:1\n  - http://127.0.0.1:2\n" +
			"initial-cluster:\n  - a=http://127.0.0.1:3\n  - b=http://127.0.0.1:4\n"},
		{name: "FlowListAndMapping", yaml: "listen-client-urls: [http://127.0.0.1:1, http://127.0.0.1:2]\n" +
			"initial-cluster:\n  a: http://127.0.0.1:3\n  b: http://127.0.0.1:4\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := load(t, []string{"--config-file", writeYAML(t, tt.yaml)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.ListenClientURLs, wantURLs) || !reflect.DeepEqual(c.InitialCluster, wantPeers) {
				t.Fatalf("got %q and %v", c.ListenClientURLs, c.InitialCluster)
			}
		})
	}
}

func TestLoadConfig_Errors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		environ []string
		yaml    string // when set, written to a file passed by --config-file
		want    string
	}{
		{name: "UnknownFlag", args: []string{"--nmae", "x"}, want: "flag provided but not defined: -nmae"},
		{name: "PositionalArg", args: []string{"extra"}, want: `unexpected argument "extra"`},
		{name: "UnknownYAMLKey", yaml: "name: x\nlisten-client-url: http://127.0.0.1:1\n", want: `line 2: "listen-client-url": unknown key`},
		{name: "DuplicateYAMLKey", yaml: "name: x\nname: y\n", want: `"name": key given twice`},
		{name: "ConfigFileInFile", yaml: "config-file: other.yaml\n", want: `"config-file": not allowed inside a config file`},
		{name: "ListForScalar", yaml: "name: [a, b]\n", want: `"name": expected a single value`},
		{name: "MappingForList", yaml: "listen-client-urls: {a: b}\n", want: `"listen-client-urls": expected a string or a list`},
		{name: "NotAMapping", yaml: "- name\n", want: "expected a mapping"},
		{name: "BadYAML", yaml: "name: [\n", want: "config file"},
		{name: "MissingFile", args: []string{"--config-file", "/nonexistent/cairn.yaml"}, want: "config file: open /nonexistent/cairn.yaml"},
		{name: "BadMillisFlag", args: []string{"--heartbeat-interval", "fast"}, want: `--heartbeat-interval: "fast" is not a number of milliseconds`},
		{name: "BadDurationEnv", environ: []string{"CAIRN_REQUEST_TIMEOUT=5"}, want: `CAIRN_REQUEST_TIMEOUT: "5" is not a duration`},
		{name: "BadNumberFile", yaml: "snapshot-count: -1\n", want: `snapshot-count: "-1" is not a valid number`},
		{name: "BadCluster", args: []string{"--initial-cluster", "n1"}, want: `--initial-cluster: "n1" is not name=URL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := tt.args
			if tt.yaml != "" {
				args = append([]string{"--config-file", writeYAML(t, tt.yaml)}, args...)
			}
			_, err := load(t, args, tt.environ)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadConfig_Help(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"-h", "--help"} {
		t.Run(arg, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			_, err := LoadConfigTo([]string{arg}, nil, &out)
			if !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("error = %v, want flag.ErrHelp", err)
			}
			for _, want := range []string{"Usage: cairn", "-initial-cluster", "CAIRN_<FLAG>", "(default http://127.0.0.1:2379)"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("usage lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

func TestConfig_Validate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		modify func(c *Config)
		want   string // "" means valid
	}{
		{name: "OK", modify: func(c *Config) {}},
		{name: "OKThreeMembers", modify: func(c *Config) {
			c.InitialCluster = []Peer{{"n0", "http://127.0.0.1:22380"}, {"default", "http://127.0.0.1:2380"}}
		}},
		{name: "OKPortZero", modify: func(c *Config) {
			c.ListenClientURLs = []string{"http://127.0.0.1:0"}
			c.AdvertiseClientURLs = c.ListenClientURLs
		}},
		{name: "OKJoinAlone", modify: func(c *Config) { c.Join = "http://127.0.0.1:22379" }},
		{name: "EmptyName", modify: func(c *Config) { c.Name = "" }, want: "--name: must not be empty"},
		{name: "EmptyDataDir", modify: func(c *Config) { c.DataDir = "" }, want: "--data-dir: must not be empty"},
		{name: "NoClientURL", modify: func(c *Config) { c.ListenClientURLs = nil }, want: "--listen-client-urls: needs at least one URL"},
		{name: "NoAdvertiseURL", modify: func(c *Config) { c.AdvertiseClientURLs = nil }, want: "--advertise-client-urls: needs at least one URL"},
		{name: "OtherScheme", modify: func(c *Config) { c.ListenPeerURL = "tcp://127.0.0.1:2380" },
			want: `--listen-peer-urls: "tcp://127.0.0.1:2380": must start with http:// or https://`},
		{name: "HTTPSNoPort", modify: func(c *Config) { c.Join = "https://127.0.0.1" },
			want: `--join: "https://127.0.0.1": must be https://host:port`},
		{name: "NoPort", modify: func(c *Config) { c.ListenPeerURL = "http://127.0.0.1" },
			want: `--listen-peer-urls: "http://127.0.0.1": must be http://host:port`},
		{name: "NoScheme", modify: func(c *Config) { c.ListenPeerURL = "127.0.0.1:2380" }, want: `--listen-peer-urls: "127.0.0.1:2380"`},
		{name: "BadPort", modify: func(c *Config) { c.ListenPeerURL = "http://127.0.0.1:99999" }, want: `port "99999"`},
		{name: "Path", modify: func(c *Config) { c.AdvertiseClientURLs = []string{"http://127.0.0.1:2379/v1"} },
			want: "--advertise-client-urls: \"http://127.0.0.1:2379/v1\": must be http://host:port with nothing after the port"},
		{name: "AdvertiseUnspecified", modify: func(c *Config) { c.AdvertiseClientURLs = []string{"http://0.0.0.0:2379"} },
			want: "0.0.0.0 is where to listen, not an address others can reach"},
		{name: "ListenUnspecifiedOK", modify: func(c *Config) { c.ListenClientURLs = []string{"http://0.0.0.0:2379"} }},
		{name: "BadAdvertisePeer", modify: func(c *Config) { c.InitialAdvertisePeerURL = "http://127.0.0.1:2380/raft" },
			want: "--initial-advertise-peer-urls: \"http://127.0.0.1:2380/raft\": must be http://host:port with nothing after the port"},
		{name: "MemberNotListed", modify: func(c *Config) { c.Name = "n4" }, want: `--initial-cluster: member "n4" is not listed`},
		{name: "MemberURLMismatch", modify: func(c *Config) { c.InitialCluster[0].URL = "http://127.0.0.1:12380" },
			want: `--initial-cluster: member "default" has URL "http://127.0.0.1:12380" but --initial-advertise-peer-urls is "http://127.0.0.1:2380"`},
		{name: "MemberURLCaseInsensitiveHost", modify: func(c *Config) {
			c.InitialAdvertisePeerURL = "http://LOCALHOST:2380"
			c.InitialCluster = []Peer{{"default", "http://localhost:2380/"}}
		}},
		{name: "DuplicateName", modify: func(c *Config) {
			c.InitialCluster = append(c.InitialCluster, Peer{"default", "http://127.0.0.1:12380"})
		}, want: `--initial-cluster: member "default" is listed twice`},
		{name: "DuplicateURL", modify: func(c *Config) {
			c.InitialCluster = append(c.InitialCluster, Peer{"n2", "http://127.0.0.1:2380"})
		}, want: `--initial-cluster: members "default" and "n2" have the same URL`},
		{name: "NamelessMember", modify: func(c *Config) {
			c.InitialCluster = append(c.InitialCluster, Peer{"", "http://127.0.0.1:12380"})
		}, want: `--initial-cluster: member with URL "http://127.0.0.1:12380" has no name`},
		{name: "BadMemberURL", modify: func(c *Config) {
			c.InitialCluster = append(c.InitialCluster, Peer{"n2", "ftp://127.0.0.1:12380"})
		}, want: `--initial-cluster: "ftp://127.0.0.1:12380": must start with http:// or https://`},
		{name: "ClusterState", modify: func(c *Config) { c.InitialClusterState = "old" },
			want: `--initial-cluster-state: "old" is neither new nor existing`},
		{name: "JoinWithCluster", modify: func(c *Config) {
			c.Join = "http://127.0.0.1:22379"
			c.InitialCluster = append(c.InitialCluster, Peer{"n2", "http://127.0.0.1:22380"})
		}, want: "--join: cannot be combined with a multi-member --initial-cluster"},
		{name: "BadJoinURL", modify: func(c *Config) { c.Join = "127.0.0.1:2379" }, want: `--join: "127.0.0.1:2379"`},
		{name: "LogLevel", modify: func(c *Config) { c.LogLevel = "trace" }, want: `--log-level: "trace" is not one of debug, info, warn, error`},
		{name: "LogFormat", modify: func(c *Config) { c.LogFormat = "text" }, want: `--log-format: "text" is neither json nor console`},
		{name: "RequestBytesLow", modify: func(c *Config) { c.MaxRequestBytes = 1023 }, want: "--max-request-bytes: 1023 is outside"},
		{name: "RequestBytesHigh", modify: func(c *Config) { c.MaxRequestBytes = 64<<20 + 1 }, want: "--max-request-bytes: 67108865 is outside"},
		{name: "RequestBytesBounds", modify: func(c *Config) { c.MaxRequestBytes = 1024 }},
		{name: "MaxWatchersZero", modify: func(c *Config) { c.MaxWatchers = 0 }, want: "--max-watchers: 0 is outside"},
		{name: "MaxWatchEventsHigh", modify: func(c *Config) { c.MaxWatchEvents = 100001 }, want: "--max-watch-events: 100001 is outside"},
		{name: "WatchHeartbeatZero", modify: func(c *Config) { c.WatchHeartbeat = 0 }, want: "--watch-heartbeat-interval: must be positive"},
		{name: "Heartbeat", modify: func(c *Config) { c.HeartbeatInterval = 0 }, want: "--heartbeat-interval: must be positive"},
		{name: "Election", modify: func(c *Config) { c.ElectionTimeout = -time.Second }, want: "--election-timeout: must be positive"},
		{name: "RequestTimeout", modify: func(c *Config) { c.RequestTimeout = 0 }, want: "--request-timeout: must be positive"},
		{name: "ShutdownTimeout", modify: func(c *Config) { c.ShutdownTimeout = 0 }, want: "--shutdown-timeout: must be positive"},
		{name: "ElectionTooShort", modify: func(c *Config) { c.ElectionTimeout = 499 * time.Millisecond },
			want: "--election-timeout: 499ms must be at least 5 times --heartbeat-interval (100ms)"},
		{name: "ElectionFiveTimes", modify: func(c *Config) { c.ElectionTimeout = 500 * time.Millisecond }},
		{name: "SnapshotCount", modify: func(c *Config) { c.SnapshotCount = 0 }, want: "--snapshot-count: must be greater than 0"},
		{name: "SnapshotInterval", modify: func(c *Config) { c.SnapshotInterval = time.Millisecond }, want: "--snapshot-interval: must be at least 10ms, got 1ms"},
		{name: "JoinAsLearnerWithoutJoin", modify: func(c *Config) { c.JoinAsLearner = true }, want: "--join-as-learner: applies with --join only"},
		{name: "CorruptCheckNever", modify: func(c *Config) { c.CorruptCheckInterval = 0 }},
		{name: "NoQuota", modify: func(c *Config) { c.QuotaBackendBytes = 0 }},
		{name: "QuotaNegative", modify: func(c *Config) { c.QuotaBackendBytes = -1 }, want: "--quota-backend-bytes: must be 0 (no quota) or positive"},
		{name: "WarningApplyDurationNegative", modify: func(c *Config) { c.WarningApplyDuration = -time.Millisecond }, want: "--warning-apply-duration: must be 0 (never) or positive"},
		{name: "CompactionHours", modify: func(c *Config) { c.AutoCompactionRetention = "2" }},
		{name: "CompactionOff", modify: func(c *Config) { c.AutoCompactionRetention = "0" }},
		{name: "CompactionBadDuration", modify: func(c *Config) { c.AutoCompactionRetention = "soon" }, want: `--auto-compaction-retention: "soon" is not a duration`},
		{name: "CompactionBadMode", modify: func(c *Config) { c.AutoCompactionMode = "hourly" }, want: `--auto-compaction-mode "hourly" is neither periodic nor revision`},
		{name: "CompactionBadRevisions", modify: func(c *Config) { c.AutoCompactionMode, c.AutoCompactionRetention = "revision", "1h" }, want: `"1h" is not a number of revisions`},
		{name: "JoinUserWithoutJoin", modify: func(c *Config) { c.JoinUser = "root:pw" }, want: "--join-user: applies with --join only"},
		{name: "JoinUserWithoutPassword", modify: func(c *Config) { c.Join, c.JoinUser = "http://127.0.0.1:2379", "root" }, want: "--join-user: must be name:password"},
		{name: "JoinUserBadName", modify: func(c *Config) { c.Join, c.JoinUser = "http://127.0.0.1:2379", "a/b:pw" }, want: "--join-user: user name"},
		{name: "JoinUser", modify: func(c *Config) { c.Join, c.JoinUser = "http://127.0.0.1:2379", "root:p:w" }},
		{name: "TokenTTLZero", modify: func(c *Config) { c.AuthTokenTTL = 0 }, want: "--auth-token-ttl: must be at least 1 second"},
		{name: "BcryptCostLow", modify: func(c *Config) { c.BcryptCost = 3 }, want: "--bcrypt-cost: must be between 4 and 31"},
		{name: "CorruptCheckNegative", modify: func(c *Config) { c.CorruptCheckInterval = -time.Second }, want: "--corrupt-check-interval: must be 0 (never) or positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Defaults().WithDerivedDefaults()
			tt.modify(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}

	t.Run("ReportsEveryProblem", func(t *testing.T) {
		t.Parallel()
		c := Defaults().WithDerivedDefaults()
		c.LogLevel, c.SnapshotCount = "loud", 0
		err := c.Validate()
		if err == nil || strings.Count(err.Error(), "\n") != 1 {
			t.Fatalf("want two lines, got %v", err)
		}
	})
}

func TestConfig_Addrs(t *testing.T) {
	t.Parallel()
	c, err := load(t, []string{
		"--listen-client-urls", "http://127.0.0.1:2379,http://[::1]:12379",
		"--listen-peer-urls", "http://0.0.0.0:2380",
		"--initial-advertise-peer-urls", "http://10.0.0.1:2380/",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.ClientAddrs(), []string{"127.0.0.1:2379", "[::1]:12379"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ClientAddrs() = %q, want %q", got, want)
	}
	if got := c.PeerAddr(); got != "0.0.0.0:2380" {
		t.Errorf("PeerAddr() = %q", got)
	}
	if got := c.AdvertisePeerAddr(); got != "10.0.0.1:2380" {
		t.Errorf("AdvertisePeerAddr() = %q", got)
	}
	if got := c.InitialCluster[0].Addr(); got != "10.0.0.1:2380" {
		t.Errorf("Peer.Addr() = %q", got)
	}
}

func TestConfig_LogFormatFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		format   string
		terminal bool
		want     string
	}{
		{name: "AutoTerminal", terminal: true, want: "console"},
		{name: "AutoPipe", want: "json"},
		{name: "ExplicitJSON", format: "json", terminal: true, want: "json"},
		{name: "ExplicitConsole", format: "console", want: "console"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := (Config{LogFormat: tt.format}).LogFormatFor(tt.terminal); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestConfigs_Examples keeps the YAML examples in configs/ loadable and valid.
func TestConfigs_Examples(t *testing.T) {
	t.Parallel()
	paths, err := filepath.Glob(filepath.Join("..", "..", "configs", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 4 {
		t.Fatalf("found %d example configs, want at least 4: %q", len(paths), paths)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			c, err := load(t, []string{"--config-file", path}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}

	t.Run("SingleNodeIsDefaults", func(t *testing.T) {
		t.Parallel()
		c, err := load(t, []string{"--config-file", filepath.Join("..", "..", "configs", "single-node.yaml")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.ConfigFile = ""
		if want, _ := load(t, nil, nil); !reflect.DeepEqual(c, want) {
			t.Fatalf("single-node.yaml differs from the defaults:\n got  %+v\n want %+v", c, want)
		}
	})
}
