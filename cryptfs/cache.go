package cryptfs

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ferry-sync/ferry/crypt"
	"github.com/ferry-sync/ferry/delta/chunk"
)

// cache keeps, beside the job's snapshot, what decrypting or encrypting
// a file once taught: the header of each cipher file (keyed by cipher
// path, size and xxhash, so a no-change scan reads no headers), and the
// encrypted form of each local file uploaded (keyed by plaintext path,
// size, mtime and xxhash: its cipher size, xxhash and chunk list).
// Without a file (Options.StateFile empty) it keeps them in memory.
type cache struct {
	db *bolt.DB

	mu      sync.Mutex
	headers map[string]crypt.Meta
	sealed  map[string]sealed
}

var (
	headersBucket = []byte("headers")
	sealedBucket  = []byte("sealed")
)

// sealed is the encrypted form of one plaintext file.
type sealed struct {
	Size int64
	Hash uint64
	List chunk.List // the ciphertext's chunk list; empty under chunk.MinFileSize
	Meta crypt.Meta // what its header says
}

const metaLen = 8 + 8 + chunk.SumSize + 8

func appendMeta(v []byte, m crypt.Meta) []byte {
	v = binary.BigEndian.AppendUint64(v, uint64(m.Size))
	v = binary.BigEndian.AppendUint64(v, m.Hash)
	v = append(v, m.Digest[:]...)
	return binary.BigEndian.AppendUint64(v, uint64(m.Frames))
}

func parseMeta(v []byte) crypt.Meta {
	var m crypt.Meta
	m.Size = int64(binary.BigEndian.Uint64(v))
	m.Hash = binary.BigEndian.Uint64(v[8:])
	copy(m.Digest[:], v[16:])
	m.Frames = int(binary.BigEndian.Uint64(v[16+chunk.SumSize:]))
	return m
}

func openCache(path string) (*cache, error) {
	c := &cache{headers: map[string]crypt.Meta{}, sealed: map[string]sealed{}}
	if path == "" {
		return c, nil
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("unable to open the encryption cache %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{headersBucket, sealedBucket} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("unable to open the encryption cache %s: %w", path, err)
	}
	// A cache: a crash may lose its last writes, which costs reading
	// those headers again, never a wrong answer (every key names the
	// cipher file's size and hash, or the plaintext's). No fsync per
	// file written.
	db.NoSync = true
	c.db = db
	return c, nil
}

func (c *cache) close() error {
	if c.db == nil {
		return nil
	}
	return c.db.Close()
}

func key(path string, size int64, a, b uint64) []byte {
	k := make([]byte, 0, len(path)+1+24)
	k = append(k, path...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint64(k, uint64(size))
	k = binary.BigEndian.AppendUint64(k, a)
	return binary.BigEndian.AppendUint64(k, b)
}

func headerKey(cipherPath string, size int64, hash uint64) []byte {
	return key(cipherPath, size, hash, 0)
}

func sealedKey(plainPath string, size, mtime int64, hash uint64) []byte {
	return key(plainPath, size, uint64(mtime), hash)
}

// header returns the plaintext facts of a cipher file as its header said.
func (c *cache) header(k []byte) (crypt.Meta, bool) {
	c.mu.Lock()
	m, ok := c.headers[string(k)]
	c.mu.Unlock()
	if ok || c.db == nil {
		return m, ok
	}
	_ = c.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(headersBucket).Get(k)
		if len(v) == metaLen {
			m, ok = parseMeta(v), true
		}
		return nil
	})
	return m, ok
}

// headersOf looks up many header keys in one read of the file; found[i]
// says whether metas[i] is known.
func (c *cache) headersOf(ks [][]byte) (metas []crypt.Meta, found []bool) {
	metas, found = make([]crypt.Meta, len(ks)), make([]bool, len(ks))
	var rest []int
	c.mu.Lock()
	for i, k := range ks {
		if m, ok := c.headers[string(k)]; ok {
			metas[i], found[i] = m, true
		} else {
			rest = append(rest, i)
		}
	}
	c.mu.Unlock()
	if c.db == nil || len(rest) == 0 {
		return metas, found
	}
	_ = c.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(headersBucket)
		for _, i := range rest {
			if v := b.Get(ks[i]); len(v) == metaLen {
				metas[i], found[i] = parseMeta(v), true
			}
		}
		return nil
	})
	return metas, found
}

func (c *cache) putHeaders(ks [][]byte, ms []crypt.Meta) error {
	c.mu.Lock()
	for i, k := range ks {
		c.headers[string(k)] = ms[i]
	}
	c.mu.Unlock()
	if c.db == nil || len(ks) == 0 {
		return nil
	}
	return c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(headersBucket)
		for i, k := range ks {
			if err := b.Put(k, appendMeta(nil, ms[i])); err != nil {
				return err
			}
		}
		return nil
	})
}

func (c *cache) sealedOf(k []byte) (sealed, bool) {
	c.mu.Lock()
	s, ok := c.sealed[string(k)]
	c.mu.Unlock()
	if ok || c.db == nil {
		return s, ok
	}
	_ = c.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(sealedBucket).Get(k)
		if len(v) < 16+metaLen {
			return nil
		}
		s.Size = int64(binary.BigEndian.Uint64(v))
		s.Hash = binary.BigEndian.Uint64(v[8:])
		s.Meta = parseMeta(v[16:])
		if rest := v[16+metaLen:]; len(rest) > 0 {
			l, _, err := chunk.ParseList(rest)
			if err != nil || l.Total != s.Size {
				return nil
			}
			s.List = l
		}
		ok = true
		return nil
	})
	if ok {
		c.mu.Lock()
		c.sealed[string(k)] = s
		c.mu.Unlock()
	}
	return s, ok
}

// putSealed records the encrypted forms of many files, in one write.
func (c *cache) putSealed(ks [][]byte, ss []sealed) error {
	c.mu.Lock()
	for i, k := range ks {
		c.sealed[string(k)] = ss[i]
	}
	c.mu.Unlock()
	if c.db == nil || len(ks) == 0 {
		return nil
	}
	return c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(sealedBucket)
		for i, k := range ks {
			s := ss[i]
			v := binary.BigEndian.AppendUint64(nil, uint64(s.Size))
			v = binary.BigEndian.AppendUint64(v, s.Hash)
			v = appendMeta(v, s.Meta)
			if len(s.List.Chunks) > 0 {
				v = s.List.Append(v)
			}
			if err := b.Put(k, v); err != nil {
				return err
			}
		}
		return nil
	})
}
