package cite

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"timon.dev/timon/lsp/bib"
)

// Limits of what is read.
const (
	// MaxFileBytes bounds one .bib file.
	MaxFileBytes = 32 << 20
	// MaxDirFiles bounds the .bib files taken from one directory.
	MaxDirFiles = 32
)

// Overlay gives the text of a file open in the editor (it wins over the
// disk): the text and its version, ok false when the file is not open.
type Overlay func(path string) (text string, version int32, ok bool)

// Library reads .bib files and keeps them parsed while they stay the same:
// an open file while its version does, a file on disk while its
// modification time and size do (a stat on each use, which is cheap).
// It is safe for concurrent use.
type Library struct {
	overlay Overlay

	mu    sync.Mutex
	files map[string]*cached
}

type cached struct {
	mod     time.Time
	size    int64
	version int32
	open    bool
	file    *bib.File
}

// NewLibrary returns an empty library; overlay may be nil.
func NewLibrary(overlay Overlay) *Library {
	return &Library{overlay: overlay, files: map[string]*cached{}}
}

// Forget drops a file (a watcher said it changed), or every file for "".
func (l *Library) Forget(path string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if path == "" {
		clear(l.files)
		return
	}
	delete(l.files, filepath.Clean(path))
}

// exists reports whether path is a regular file or open in the editor.
func (l *Library) exists(path string) bool {
	if l.overlay != nil {
		if _, _, ok := l.overlay(path); ok {
			return true
		}
	}
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// Load returns the parsed file at path.
func (l *Library) Load(path string) (*bib.File, error) {
	path = filepath.Clean(path)
	if l.overlay != nil {
		if text, version, ok := l.overlay(path); ok {
			l.mu.Lock()
			c := l.files[path]
			l.mu.Unlock()
			if c != nil && c.open && c.version == version {
				return c.file, nil
			}
			f := bib.Parse(text)
			l.mu.Lock()
			l.files[path] = &cached{open: true, version: version, file: f}
			l.mu.Unlock()
			return f, nil
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading bibliography %s: %w", filepath.Base(path), err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("reading bibliography %s: not a regular file", filepath.Base(path))
	}
	l.mu.Lock()
	c := l.files[path]
	l.mu.Unlock()
	if c != nil && !c.open && c.mod.Equal(st.ModTime()) && c.size == st.Size() {
		return c.file, nil
	}
	if st.Size() > MaxFileBytes {
		return nil, fmt.Errorf("reading bibliography %s: %d bytes, more than the %d read", filepath.Base(path), st.Size(), MaxFileBytes)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading bibliography %s: %w", filepath.Base(path), err)
	}
	f := bib.Parse(string(b))
	l.mu.Lock()
	l.files[path] = &cached{mod: st.ModTime(), size: st.Size(), file: f}
	l.mu.Unlock()
	return f, nil
}

// Set is the bibliography of a document: its files, first named first.
type Set struct {
	Paths []string
	Files []*bib.File
	// Missing are the files the document names that were not found.
	Missing []Resource
}

// Lookup finds a key in the set's files (the first file holding it wins).
func (s *Set) Lookup(key string) (*bib.Entry, bool) {
	for _, f := range s.Files {
		if e, ok := f.Lookup(key); ok {
			return e, true
		}
	}
	return nil, false
}

// Len is the number of entries.
func (s *Set) Len() int {
	n := 0
	for _, f := range s.Files {
		n += len(f.Entries)
	}
	return n
}

// Entries calls fn for each entry, files in order, skipping keys an
// earlier file holds; fn returns false to stop.
func (s *Set) Entries(fn func(path string, e *bib.Entry) bool) {
	for i, f := range s.Files {
		for _, e := range f.Entries {
			if i > 0 {
				if _, dup := s.lookupBefore(i, e.Key); dup {
					continue
				}
			}
			if !fn(s.Paths[i], e) {
				return
			}
		}
	}
}

func (s *Set) lookupBefore(n int, key string) (*bib.Entry, bool) {
	for _, f := range s.Files[:n] {
		if e, ok := f.Lookup(key); ok {
			return e, true
		}
	}
	return nil, false
}

// Bibliography returns the set of a LaTeX document at docPath (a file
// path; "" for a document without one) with text: the files it names,
// relative to its directory or else to a workspace root, then the .bib
// files of its directory and of the roots (not their subdirectories).
// Files that cannot be read are left out (errs says why).
func (l *Library) Bibliography(docPath, text string, roots []string) (*Set, []error) {
	var dirs []string
	if docPath != "" {
		dirs = append(dirs, filepath.Dir(docPath))
	}
	for _, r := range roots {
		if !slices.Contains(dirs, r) {
			dirs = append(dirs, r)
		}
	}
	set := &Set{}
	var paths []string
	for _, r := range Resources(text) {
		if strings.Contains(r.Name, "://") {
			continue // a remote resource (\addbibresource[location=remote]): not ours to read
		}
		found := ""
		if filepath.IsAbs(r.Name) {
			if l.exists(r.Name) {
				found = r.Name
			}
		} else {
			for _, d := range dirs {
				if p := filepath.Join(d, filepath.FromSlash(r.Name)); l.exists(p) {
					found = p
					break
				}
			}
		}
		if found == "" {
			set.Missing = append(set.Missing, r)
			continue
		}
		paths = appendNew(paths, filepath.Clean(found))
	}
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		n := 0
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || strings.HasPrefix(name, ".") || !strings.EqualFold(filepath.Ext(name), ".bib") {
				continue
			}
			if n++; n > MaxDirFiles {
				break
			}
			paths = appendNew(paths, filepath.Join(d, name))
		}
	}
	var errs []error
	for _, p := range paths {
		f, err := l.Load(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		set.Paths = append(set.Paths, p)
		set.Files = append(set.Files, f)
	}
	return set, errs
}

func appendNew(list []string, p string) []string {
	if slices.Contains(list, p) {
		return list
	}
	return append(list, p)
}
