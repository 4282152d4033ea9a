package descriptor

// JSON shapes of the published vector files in ../shared/vectors (see its
// README for sources).

type checksumVectors struct {
	Checksums []struct {
		Description string `json:"description"`
		Descriptor  string `json:"descriptor"`
		Valid       *bool  `json:"valid"`
	} `json:"bip380_checksum_vectors"`
	KeyExpressions struct {
		Valid   []keyExprVector `json:"valid"`
		Invalid []keyExprVector `json:"invalid"`
	} `json:"bip380_key_expression_vectors"`
	Coldcard []struct {
		Descriptor string `json:"descriptor"`
		Valid      bool   `json:"valid"`
	} `json:"coldcard_descriptor_export_with_checksum"`
}

type keyExprVector struct {
	Description   string `json:"description"`
	KeyExpression string `json:"key_expression"`
}

type scriptVector struct {
	Descriptor string   `json:"descriptor"`
	Scripts    []string `json:"scripts"`
}

type invalidVector struct {
	Reason     string `json:"reason"`
	Descriptor string `json:"descriptor"`
}

type multisigVectors struct {
	BIP383 struct {
		Valid   []scriptVector  `json:"valid"`
		Invalid []invalidVector `json:"invalid"`
	} `json:"bip383_multi_sortedmulti"`
	BIP389 struct {
		Valid []struct {
			Descriptor string   `json:"descriptor"`
			ExpandsTo  []string `json:"expands_to"`
		} `json:"valid"`
		Invalid []invalidVector `json:"invalid"`
	} `json:"bip389_multipath"`
	BIP67 struct {
		Vectors []struct {
			Name    string   `json:"name"`
			List    []string `json:"list"`
			Sorted  []string `json:"sorted"`
			Script  string   `json:"script"`
			Address string   `json:"address"`
		} `json:"vectors"`
	} `json:"bip67_sortedmulti_p2sh"`
	InvalidAtDerivation []struct {
		Descriptor    string `json:"descriptor"`
		ExpectedError string `json:"expected_error"`
	} `json:"invalid_at_derivation"`
	BIP129 struct {
		Vectors []struct {
			Descriptor       string `json:"descriptor_or_template"`
			PathRestrictions string `json:"path_restrictions"`
			FirstAddress     string `json:"first_address"`
			Network          string `json:"network"`
		} `json:"vectors"`
	} `json:"bip129_first_address"`
}

type bip32Vectors struct {
	Vectors []struct {
		TestVector int    `json:"test_vector"`
		SeedHex    string `json:"seed_hex"`
		Chains     []struct {
			Path   string `json:"path"`
			ExtPub string `json:"ext_pub"`
			ExtPrv string `json:"ext_prv"`
		} `json:"chains"`
	} `json:"vectors"`
	Invalid struct {
		Keys []struct {
			ExtendedKey string `json:"extended_key"`
			Reason      string `json:"reason"`
		} `json:"keys"`
	} `json:"invalid_extended_keys_test_vector_5"`
}

type slip132Vectors struct {
	VersionBytes []struct {
		Coin             string `json:"coin"`
		PublicVersionHex string `json:"public_version_hex"`
		PublicPrefix     string `json:"public_prefix"`
		PrivateVersion   string `json:"private_version_hex"`
		PrivatePrefix    string `json:"private_prefix"`
	} `json:"version_bytes"`
	TestVectors struct {
		Accounts []struct {
			Path             string `json:"path"`
			XprvLike         string `json:"xprv_like"`
			XpubLike         string `json:"xpub_like"`
			FirstAddressPath string `json:"first_address_path"`
			FirstAddress     string `json:"first_address"`
		} `json:"accounts"`
	} `json:"test_vectors"`
}
