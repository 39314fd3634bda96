package endofday_test

import (
	"testing"

	"booklets/pkg/adapter/openpgp"
	"booklets/pkg/adapter/sftp"
	"booklets/pkg/stage/endofday"
)

// The partner's OpenPGP key is the stage's Encrypter as it is.
var _ endofday.Encrypter = (*openpgp.Recipient)(nil)

// The names the stage writes without importing the adapters are theirs:
// the data file's extension, the setting an operator is told to set, and
// the text of a failed verification in the alert line.
func TestNamesAsTheAdapters(t *testing.T) {
	t.Parallel()
	if endofday.EncryptedExt != openpgp.Ext {
		t.Errorf("EncryptedExt %q, openpgp.Ext %q", endofday.EncryptedExt, openpgp.Ext)
	}
	if endofday.KeyFileSetting != openpgp.EnvKeyFile {
		t.Errorf("key file setting %q, openpgp.EnvKeyFile %q", endofday.KeyFileSetting, openpgp.EnvKeyFile)
	}
	if endofday.ErrVerify.Error() != sftp.ErrVerify.Error() {
		t.Errorf("ErrVerify %q, sftp.ErrVerify %q", endofday.ErrVerify, sftp.ErrVerify)
	}
}
