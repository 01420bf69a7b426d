package pg

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"testing"
)

// proxy forwards TCP connections to the server. It keeps what the clients
// send (count), and while frozen it holds what the server sends, as a
// network that went silent would.
type proxy struct {
	l  net.Listener
	wg sync.WaitGroup

	mu     sync.Mutex
	conns  []net.Conn
	sent   bytes.Buffer
	frozen chan struct{} // open while frozen, closed by thaw; nil when not frozen
}

func newProxy(t *testing.T, target string) *proxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l}
	p.wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			p.wg.Go(func() { p.pipe(s, c, true); s.Close() })
			p.wg.Go(func() { p.pipe(c, s, false); c.Close() })
		}
	})
	t.Cleanup(func() {
		p.thaw()
		l.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// dsn is the server's URL for database name, through the proxy.
func (p *proxy) dsn(name string, params ...string) string {
	return strings.Replace(srv.URL(name, params...), srv.Host(), p.l.Addr().String(), 1)
}

// pipe copies from src to dst: from a client (fromClient) it keeps what
// passes; from the server it holds what it read while the proxy is frozen.
func (p *proxy) pipe(dst, src net.Conn, fromClient bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			frozen := p.frozen
			if fromClient {
				p.sent.Write(buf[:n])
			}
			p.mu.Unlock()
			if frozen != nil && !fromClient {
				<-frozen
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// freeze holds what the server sends from now on, until thaw.
func (p *proxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frozen == nil {
		p.frozen = make(chan struct{})
	}
}

// thaw lets what the server sent through again.
func (p *proxy) thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frozen != nil {
		close(p.frozen)
		p.frozen = nil
	}
}

// count counts s in what the clients sent.
func (p *proxy) count(s string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Count(p.sent.Bytes(), []byte(s))
}
