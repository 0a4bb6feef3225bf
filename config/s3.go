package config

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// S3Scheme starts a root in object storage: s3://bucket/prefix.
const S3Scheme = "s3://"

// S3 is where a user's root lives when it is s3://bucket/prefix: the
// store's address and where its credentials come from, never the
// credentials themselves.
type S3 struct {
	// Bucket and Prefix come from the root: s3://bucket/a/b has prefix
	// "a/b" (no leading or trailing slash; "" is the whole bucket).
	Bucket string
	Prefix string
	// Endpoint is the store's host:port.
	Endpoint string
	// Region is the bucket's region; default us-east-1.
	Region string
	// PathStyle addresses the bucket in the path (host/bucket/key), not
	// in the host name; default true, as S3-compatible stores expect.
	PathStyle bool
	// Secure is HTTPS; default true.
	Secure bool
	// CredentialsFile is an AWS shared credentials file
	// (aws_access_key_id, aws_secret_access_key) read when the server
	// starts; "" takes AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from
	// the environment.
	CredentialsFile string
	// Profile is the section of CredentialsFile to read; default
	// "default".
	Profile string
}

// Defaults of an s3: block.
const (
	DefaultS3Region  = "us-east-1"
	DefaultS3Profile = "default"
)

// S3Credentials are the keys a server signs its requests to the store with.
type S3Credentials struct {
	AccessKey string
	SecretKey string
}

// s3Spec is an s3: block as written, so that a user's block can override
// the top-level one key by key.
type s3Spec struct {
	Endpoint, Region, CredentialsFile, Profile *string
	PathStyle, Secure                          *bool
}

func (s s3Spec) over(base s3Spec) s3Spec {
	if s.Endpoint == nil {
		s.Endpoint = base.Endpoint
	}
	if s.Region == nil {
		s.Region = base.Region
	}
	if s.CredentialsFile == nil {
		s.CredentialsFile = base.CredentialsFile
	}
	if s.Profile == nil {
		s.Profile = base.Profile
	}
	if s.PathStyle == nil {
		s.PathStyle = base.PathStyle
	}
	if s.Secure == nil {
		s.Secure = base.Secure
	}
	return s
}

func (s s3Spec) apply(bucket, prefix string) *S3 {
	c := &S3{Bucket: bucket, Prefix: prefix, Region: DefaultS3Region, PathStyle: true, Secure: true, Profile: DefaultS3Profile}
	if s.Endpoint != nil {
		c.Endpoint = *s.Endpoint
	}
	if s.Region != nil {
		c.Region = *s.Region
	}
	if s.CredentialsFile != nil {
		c.CredentialsFile = *s.CredentialsFile
	}
	if s.Profile != nil {
		c.Profile = *s.Profile
	}
	if s.PathStyle != nil {
		c.PathStyle = *s.PathStyle
	}
	if s.Secure != nil {
		c.Secure = *s.Secure
	}
	return c
}

// s3Secrets are keys that would put credentials in server.yaml, which is
// refused: the file is often readable by more than the server, and lands
// in backups and version control.
var s3Secrets = []string{
	"access_key", "secret_key", "access_key_id", "secret_access_key",
	"aws_access_key_id", "aws_secret_access_key", "session_token", "aws_session_token",
}

func (d *decoder) s3(dst *s3Spec) handler {
	return func(n *yaml.Node, field string) {
		var s s3Spec
		str := func(p **string) handler {
			return func(v *yaml.Node, f string) {
				var x string
				before := len(d.errs)
				d.str(&x)(v, f)
				if len(d.errs) == before {
					*p = &x
				}
			}
		}
		boolean := func(p **bool) handler {
			return func(v *yaml.Node, f string) {
				x, ok := d.scalar(v, f)
				if !ok {
					return
				}
				b, err := strconv.ParseBool(x)
				if err != nil {
					d.fail(v.Line, f, "%q is not true or false", x)
					return
				}
				*p = &b
			}
		}
		handlers := map[string]handler{
			"endpoint":   str(&s.Endpoint),
			"region":     str(&s.Region),
			"path_style": boolean(&s.PathStyle),
			"secure":     boolean(&s.Secure),
			"profile":    str(&s.Profile),
			"credentials_file": func(v *yaml.Node, f string) {
				var p string
				before := len(d.errs)
				d.path(&p)(v, f)
				if len(d.errs) == before {
					s.CredentialsFile = &p
				}
			},
		}
		for _, k := range s3Secrets {
			handlers[k] = func(v *yaml.Node, f string) {
				d.fail(v.Line, f, "credentials do not belong in %s: put them in a file named by credentials_file (aws_access_key_id and aws_secret_access_key, as ~/.aws/credentials) or in the AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY environment variables of ferry serve, and remove this key", filepath.Base(d.file))
			}
		}
		d.object(n, field, handlers)
		*dst = s
	}
}

// parseS3Root splits s3://bucket/prefix; ok is false for a root that is
// not an S3 URL.
func parseS3Root(root string) (bucket, prefix string, ok bool) {
	rest, ok := strings.CutPrefix(root, S3Scheme)
	if !ok {
		return "", "", false
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	return bucket, strings.Trim(prefix, "/"), true
}

// s3Problems checks a user's S3 root; field is users[i].
func s3Problems(field, root string, s *S3) []problem {
	var ps []problem
	add := func(f, format string, args ...any) {
		ps = append(ps, problem{field: f, msg: fmt.Sprintf(format, args...), near: field + ".root"})
	}
	if !validBucket(s.Bucket) {
		add(field+".root", "%q does not name a bucket: write s3://bucket or s3://bucket/prefix, with a bucket name of 3 to 63 lower-case letters, digits, '.' and '-'", root)
	}
	rest := strings.TrimPrefix(root, S3Scheme+s.Bucket)
	for _, e := range strings.Split(strings.Trim(rest, "/"), "/") {
		if e == "." || e == ".." || (e == "" && s.Prefix != "") {
			add(field+".root", "%q has an empty, '.' or '..' element in its prefix", root)
			break
		}
	}
	switch {
	case s.Endpoint == "":
		add(field+".s3.endpoint", "is required for an s3:// root: the store's host:port (in the user's s3: block or the top-level one)")
	default:
		if _, p, err := splitHostPort(s.Endpoint); err != nil {
			add(field+".s3.endpoint", "%q is not host:port (no scheme: set secure: false for plain HTTP)", s.Endpoint)
		} else if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			add(field+".s3.endpoint", "%q does not end in a port between 1 and 65535", s.Endpoint)
		}
	}
	if s.Region == "" {
		add(field+".s3.region", "must not be empty (default %s)", DefaultS3Region)
	}
	if s.CredentialsFile != "" && !filepath.IsAbs(s.CredentialsFile) {
		add(field+".s3.credentials_file", "%q is not an absolute path", s.CredentialsFile)
	}
	if s.Profile == "" {
		add(field+".s3.profile", "must not be empty (default %s)", DefaultS3Profile)
	}
	return ps
}

func splitHostPort(s string) (host, port string, err error) {
	if strings.Contains(s, "://") || strings.Contains(s, "/") {
		return "", "", fmt.Errorf("not host:port")
	}
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return "", "", fmt.Errorf("not host:port")
	}
	return s[:i], s[i+1:], nil
}

// validBucket accepts S3's bucket names: 3 to 63 characters of lower-case
// letters, digits, '.' and '-', starting and ending with a letter or digit.
func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '.' || c == '-') && i > 0 && i < len(b)-1:
		default:
			return false
		}
	}
	return true
}

// S3Credentials returns the keys user u's S3 root signs with: from its
// credentials_file (section profile), else from AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY as getenv reads them. A problem is an *Error
// naming the server configuration file and the field to fix.
func (s *ServerConfig) S3Credentials(i int, getenv func(string) string) (S3Credentials, error) {
	u := s.Users[i]
	field := fmt.Sprintf("users[%d].s3", i)
	if u.S3 == nil {
		return S3Credentials{}, &Error{File: s.File, Field: fmt.Sprintf("users[%d].root", i), Msg: "is not an s3:// root"}
	}
	if u.S3.CredentialsFile == "" {
		c := S3Credentials{AccessKey: getenv("AWS_ACCESS_KEY_ID"), SecretKey: getenv("AWS_SECRET_ACCESS_KEY")}
		if c.AccessKey == "" || c.SecretKey == "" {
			return S3Credentials{}, &Error{File: s.File, Field: field + ".credentials_file",
				Msg: fmt.Sprintf("user %q has an s3:// root and no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in ferry serve's environment, or name a credentials file here", u.Name)}
		}
		return c, nil
	}
	data, err := os.ReadFile(u.S3.CredentialsFile)
	if err != nil {
		return S3Credentials{}, &Error{File: s.File, Field: field + ".credentials_file",
			Msg: fmt.Sprintf("unable to read %s: %v", u.S3.CredentialsFile, err), err: err}
	}
	c, err := parseCredentials(data, u.S3.Profile)
	if err != nil {
		return S3Credentials{}, &Error{File: s.File, Field: field + ".credentials_file",
			Msg: fmt.Sprintf("%s: %v", u.S3.CredentialsFile, err)}
	}
	return c, nil
}

// parseCredentials reads profile's keys from an AWS shared credentials
// file (INI: [profile] sections of key = value lines, # or ; comments).
func parseCredentials(data []byte, profile string) (S3Credentials, error) {
	var c S3Credentials
	section, found := "", false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") {
				return c, fmt.Errorf("line %d: %q is not a [section] header", n, line)
			}
			section = strings.TrimSpace(strings.TrimPrefix(line[1:len(line)-1], "profile "))
			if section == profile {
				found = true
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return c, fmt.Errorf("line %d: not a key = value line", n)
		}
		if section != profile {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "aws_access_key_id":
			c.AccessKey = strings.TrimSpace(v)
		case "aws_secret_access_key":
			c.SecretKey = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return c, err
	}
	switch {
	case !found:
		return c, fmt.Errorf("has no [%s] section (set profile: in server.yaml to use another)", profile)
	case c.AccessKey == "" || c.SecretKey == "":
		return c, fmt.Errorf("section [%s] needs both aws_access_key_id and aws_secret_access_key", profile)
	}
	return c, nil
}
