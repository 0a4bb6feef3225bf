package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoadServerS3Root(t *testing.T) {
	t.Setenv("HOME", testHome)
	s, err := ParseServer("/etc/ferry/server.yaml", []byte(`
s3:
  endpoint: store.example:8333
  credentials_file: ~/.aws/credentials
users:
  - name: alice
    root: s3://ferry-data/users/alice/
    authorized_keys: /k
  - name: bob
    root: s3://bobs-bucket
    authorized_keys: /k
    s3: {endpoint: 127.0.0.1:9000, region: eu-west-1, path_style: false, secure: false, profile: bob}
  - {name: carol, root: /srv/carol, authorized_keys: /k}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []*S3{
		{Bucket: "ferry-data", Prefix: "users/alice", Endpoint: "store.example:8333", Region: "us-east-1", PathStyle: true, Secure: true, CredentialsFile: testHome + "/.aws/credentials", Profile: "default"},
		{Bucket: "bobs-bucket", Prefix: "", Endpoint: "127.0.0.1:9000", Region: "eu-west-1", PathStyle: false, Secure: false, CredentialsFile: testHome + "/.aws/credentials", Profile: "bob"},
		nil,
	}
	for i, w := range want {
		if got := s.Users[i].S3; !reflect.DeepEqual(got, w) {
			t.Errorf("users[%d].S3 = %+v, want %+v", i, got, w)
		}
	}
}

func TestLoadServerS3Errors(t *testing.T) {
	t.Setenv("HOME", testHome)
	cases := map[string]struct {
		yaml  string
		line  int
		field string
		msg   string
	}{
		"secret in user block": {"users:\n  - name: a\n    root: s3://bucket\n    authorized_keys: /k\n    s3:\n      endpoint: h:1\n      secret_key: hunter2\n", 7, "users[0].s3.secret_key", "credentials do not belong in server.yaml"},
		"key id at top":        {"s3:\n  endpoint: h:1\n  aws_access_key_id: AKIA\nusers:\n  - {name: a, root: s3://bucket, authorized_keys: /k}\n", 3, "s3.aws_access_key_id", "AWS_ACCESS_KEY_ID"},
		"no endpoint":          {"users:\n  - {name: a, root: s3://bucket/p, authorized_keys: /k}\n", 2, "users[0].s3.endpoint", "is required"},
		"endpoint with scheme": {"s3: {endpoint: 'http://h:1'}\nusers:\n  - {name: a, root: s3://bucket/p, authorized_keys: /k}\n", 3, "users[0].s3.endpoint", "not host:port"},
		"bad bucket":           {"s3: {endpoint: 'h:1'}\nusers:\n  - {name: a, root: s3://Bad_Bucket/p, authorized_keys: /k}\n", 3, "users[0].root", "does not name a bucket"},
		"no bucket":            {"s3: {endpoint: 'h:1'}\nusers:\n  - {name: a, root: 's3://', authorized_keys: /k}\n", 3, "users[0].root", "does not name a bucket"},
		"dot dot prefix":       {"s3: {endpoint: 'h:1'}\nusers:\n  - {name: a, root: 's3://bucket/a/../b', authorized_keys: /k}\n", 3, "users[0].root", "'..'"},
		"bad bool":             {"s3: {endpoint: 'h:1', secure: maybe}\nusers:\n  - {name: a, root: s3://bucket, authorized_keys: /k}\n", 1, "s3.secure", "not true or false"},
		"relative credentials": {"s3: {endpoint: 'h:1', credentials_file: creds}\nusers:\n  - {name: a, root: s3://bucket, authorized_keys: /k}\n", 3, "users[0].s3.credentials_file", "not an absolute path"},
		"s3 on a disk root":    {"users:\n  - name: a\n    root: /r\n    authorized_keys: /k\n    s3: {endpoint: 'h:1'}\n", 5, "users[0].s3", "not an s3:// root"},
		"unknown s3 key":       {"s3: {endpoint: 'h:1', bucket: x}\nusers:\n  - {name: a, root: s3://bucket, authorized_keys: /k}\n", 1, "s3.bucket", "unknown key"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseServer("/etc/ferry/server.yaml", []byte(c.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			errs := configErrors(t, err)
			e := errs[0]
			if len(errs) != 1 || e.Line != c.line || e.Field != c.field || !strings.Contains(e.Msg, c.msg) || e.File != "/etc/ferry/server.yaml" {
				t.Errorf("got %v\nwant line %d field %s msg %q", err, c.line, c.field, c.msg)
			}
		})
	}
}

func TestS3Credentials(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(creds, []byte(`# a comment
[default]
aws_access_key_id = AKIADEFAULT
aws_secret_access_key = secretdefault

[profile other]
aws_access_key_id=AKIAOTHER
; another comment
aws_secret_access_key=secretother
[half]
aws_access_key_id = AKIAHALF
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "secretenv"}
	getenv := func(k string) string { return env[k] }
	noenv := func(string) string { return "" }
	load := func(block string) *ServerConfig {
		t.Helper()
		s, err := ParseServer("/etc/ferry/server.yaml", []byte("users:\n  - name: a\n    root: s3://bucket\n    authorized_keys: /k\n    s3: "+block+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, c := range []struct {
		block  string
		getenv func(string) string
		want   S3Credentials
		field  string
		msg    string
	}{
		{block: "{endpoint: 'h:1'}", getenv: getenv, want: S3Credentials{"AKIAENV", "secretenv"}},
		{block: "{endpoint: 'h:1'}", getenv: noenv, field: "users[0].s3.credentials_file", msg: "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"},
		{block: "{endpoint: 'h:1', credentials_file: " + creds + "}", getenv: getenv, want: S3Credentials{"AKIADEFAULT", "secretdefault"}},
		{block: "{endpoint: 'h:1', credentials_file: " + creds + ", profile: other}", getenv: noenv, want: S3Credentials{"AKIAOTHER", "secretother"}},
		{block: "{endpoint: 'h:1', credentials_file: " + creds + ", profile: half}", getenv: getenv, field: "users[0].s3.credentials_file", msg: "needs both"},
		{block: "{endpoint: 'h:1', credentials_file: " + creds + ", profile: none}", getenv: getenv, field: "users[0].s3.credentials_file", msg: "no [none] section"},
		{block: "{endpoint: 'h:1', credentials_file: " + dir + "/missing}", getenv: getenv, field: "users[0].s3.credentials_file", msg: "unable to read"},
	} {
		got, err := load(c.block).S3Credentials(0, c.getenv)
		if c.msg == "" {
			if err != nil || got != c.want {
				t.Errorf("%s: got %+v, %v, want %+v", c.block, got, err, c.want)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.File != "/etc/ferry/server.yaml" || e.Field != c.field || !strings.Contains(e.Msg, c.msg) {
			t.Errorf("%s: got %v, want an error on %s saying %q", c.block, err, c.field, c.msg)
		}
	}
}
