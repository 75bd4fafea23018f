package app

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// TestSplitGRPC sends HTTP/1.1, h2c and gRPC to one port and checks that
// each reached the server it should: gRPC on grpc-go's transport, the
// rest on the HTTP server, h2c included after the splitter answered its
// settings.
func TestSplitGRPC(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpLn, grpcLn := splitGRPC(raw, 5*time.Second)

	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	hs := &http.Server{Protocols: protocols, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "http "+r.Proto)
	})}
	go hs.Serve(httpLn)
	defer hs.Close()
	// The HTTP server cannot answer gRPC: a call that succeeds reached gs.
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, health.NewServer())
	go gs.Serve(grpcLn)
	defer gs.Stop()
	url := "http://" + raw.Addr().String() + "/"

	// HTTP/1.1, a short request: decided at its first bytes.
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "http HTTP/1.1" {
		t.Fatalf("HTTP/1.1 answered %q", body)
	}

	// h2c by prior knowledge, several requests on the connection.
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	h2c := &http.Client{Transport: &http.Transport{Protocols: p}, Timeout: 10 * time.Second}
	for range 3 {
		resp, err := h2c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "http HTTP/2.0" {
			t.Fatalf("h2c answered %q", body)
		}
	}

	// gRPC: grpc-go's client waits for the server's settings first.
	conn, err := grpc.NewClient(raw.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("gRPC call through the split port: %v", err)
	}
}

// TestAckFilter drops the first acknowledgement of settings, and only it.
func TestAckFilter(t *testing.T) {
	var in bytes.Buffer
	in.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&in, nil)
	fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
	fr.WriteSettingsAck() // the splitter's: dropped
	fr.WriteWindowUpdate(0, 1000)
	fr.WriteSettingsAck() // the server's: kept
	fr.WritePing(false, [8]byte{1, 2, 3})

	// Read in small pieces, as a connection may deliver them.
	out, err := io.ReadAll(&ackFilter{r: &chunked{r: &in, n: 5}, skip: len(http2.ClientPreface)})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, []byte(http2.ClientPreface)) {
		t.Fatal("the preface did not pass through")
	}
	var kinds []string
	rd := http2.NewFramer(nil, bytes.NewReader(out[len(http2.ClientPreface):]))
	for {
		f, err := rd.ReadFrame()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		k := f.Header().Type.String()
		if s, ok := f.(*http2.SettingsFrame); ok && s.IsAck() {
			k += "-ACK"
		}
		kinds = append(kinds, k)
	}
	want := []string{"SETTINGS", "WINDOW_UPDATE", "SETTINGS-ACK", "PING"}
	if len(kinds) != len(want) {
		t.Fatalf("frames after the filter: %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("frames after the filter: %v, want %v", kinds, want)
		}
	}
}

// chunked reads at most n bytes at a time.
type chunked struct {
	r io.Reader
	n int
}

func (c *chunked) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.n)]) }
