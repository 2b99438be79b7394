package synth

// Vocabularies of the generated data. Weights are relative.

var (
	tiers    = []string{"basic", "standard", "premium"}
	payments = []string{"on_time", "late", "prepaid"}
	products = []string{"mortgage", "credit_card", "deposit", "personal_loan"}
	channels = []string{"in_app", "mobile_web", "push", "sms"}

	// advertised are the advertiser's products its campaigns promote, and
	// loyaltyTiers the tiers of its loyalty programme.
	advertised   = []string{"smartphone", "laptop", "headphones", "smartwatch"}
	loyaltyTiers = []string{"bronze", "silver", "gold"}

	tierWeights    = []int{50, 35, 15}
	channelWeights = []int{40, 25, 15, 20}
	loyaltyWeights = []int{60, 30, 10}

	// appCategories and their probabilities per tier (basic, standard,
	// premium), in per mille.
	appCategories = []string{"social", "video", "music", "gaming", "shopping", "finance", "travel", "news", "navigation", "food_delivery"}
	appPerMille   = [][3]int{
		{850, 850, 800}, // social
		{550, 700, 750}, // video
		{350, 450, 550}, // music
		{400, 350, 250}, // gaming
		{250, 400, 600}, // shopping
		{150, 300, 550}, // finance
		{80, 200, 450},  // travel
		{300, 350, 400}, // news
		{400, 500, 600}, // navigation
		{200, 350, 500}, // food_delivery
	}

	// paymentWeights per tier: on_time, late, prepaid.
	paymentWeights = [3][]int{
		{40, 20, 40},
		{65, 15, 20},
		{85, 8, 7},
	}
	// tierARPU is the mean monthly revenue per user by tier, and tierUsage
	// the mean monthly data usage in GB.
	tierARPU  = [3]float64{350, 650, 1400}
	tierUsage = [3]float64{6, 15, 35}
)

type weighted struct {
	names   []string
	weights []int
}

// A country's flavour: regions, names and email domains.
type locale struct {
	regions      weighted
	maleFirst    []string
	femaleFirst  []string
	last         []string
	femaleSuffix string // appended to last names of women, such as "a"
	domains      weighted
	junkEmail    []string
}

var ruLocale = locale{
	regions: weighted{
		[]string{"Moscow", "Saint Petersburg", "Moscow Oblast", "Krasnodar Krai", "Sverdlovsk Oblast", "Tatarstan", "Novosibirsk Oblast", "Rostov Oblast", "Bashkortostan", "Nizhny Novgorod Oblast", "Samara Oblast", "Chelyabinsk Oblast", "Primorsky Krai", "Kaliningrad Oblast"},
		[]int{22, 10, 12, 6, 5, 5, 4, 5, 4, 4, 4, 4, 3, 2},
	},
	maleFirst:    []string{"ivan", "alexey", "dmitry", "sergey", "andrey", "mikhail", "nikolay", "pavel", "artem", "maxim", "vladimir", "egor", "roman", "oleg", "kirill", "denis", "yuri", "ilya", "anton", "timur"},
	femaleFirst:  []string{"olga", "elena", "natalia", "anna", "maria", "tatiana", "irina", "svetlana", "ekaterina", "yulia", "daria", "anastasia", "polina", "ksenia", "marina", "victoria", "alina", "sofia", "vera", "galina"},
	last:         []string{"ivanov", "petrov", "smirnov", "kuznetsov", "popov", "vasiliev", "sokolov", "mikhailov", "novikov", "fedorov", "morozov", "volkov", "alekseev", "lebedev", "semenov", "egorov", "pavlov", "kozlov", "stepanov", "nikolaev", "orlov", "andreev", "makarov", "zaitsev", "belov", "gusev", "titov", "kiselev", "sorokin", "frolov"},
	femaleSuffix: "a",
	domains: weighted{
		[]string{"mail.ru", "yandex.ru", "gmail.com", "bk.ru", "inbox.ru", "list.ru", "rambler.ru", "googlemail.com", "outlook.com", "icloud.com"},
		[]int{28, 25, 22, 5, 4, 4, 5, 2, 3, 2},
	},
	junkEmail: []string{"n/a", "-", "test@test.com", "noemail@mail.ru", "none@none.com", "a@a.ru", "no@email.com"},
}

var genericLocale = locale{
	regions: weighted{
		[]string{"Capital", "North", "South", "East", "West", "Central", "Coast", "Highlands"},
		[]int{25, 12, 15, 12, 12, 14, 6, 4},
	},
	maleFirst:   []string{"james", "john", "robert", "michael", "david", "william", "richard", "joseph", "thomas", "daniel", "paul", "mark", "george", "steven", "andrew", "peter", "lucas", "noah", "adam", "leo"},
	femaleFirst: []string{"mary", "patricia", "jennifer", "linda", "elizabeth", "susan", "jessica", "sarah", "karen", "emma", "olivia", "sophia", "laura", "anna", "julia", "clara", "nina", "grace", "alice", "eva"},
	last:        []string{"smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "martin", "lopez", "wilson", "anderson", "taylor", "thomas", "moore", "jackson", "white", "harris", "clark", "lewis", "walker", "young", "allen", "king", "wright", "scott", "green", "baker", "adams", "nelson"},
	domains: weighted{
		[]string{"gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com", "googlemail.com", "aol.com", "proton.me"},
		[]int{40, 15, 15, 10, 8, 2, 5, 5},
	},
	junkEmail: []string{"n/a", "-", "test@test.com", "noemail@example.com", "none@none.com", "a@a.com", "no@email.com"},
}

// junkDevices are device IDs that many rows share: the all-zero advertising
// ID of devices that limit ad tracking, and placeholders.
var junkDevices = []string{"00000000-0000-0000-0000-000000000000", "unknown", "ffffffff-ffff-ffff-ffff-ffffffffffff"}

// gmailTags are +tags people add to gmail addresses.
var gmailTags = []string{"bank", "promo", "news", "shop", "work", "spam", "2019", "me"}

// keyboardNeighbours gives, for each lower-case letter, the letters next to
// it on a QWERTY keyboard: the typos fingers make.
var keyboardNeighbours = map[byte]string{
	'a': "qwsz", 'b': "vghn", 'c': "xdfv", 'd': "serfcx", 'e': "wsdr", 'f': "drtgvc",
	'g': "ftyhbv", 'h': "gyujnb", 'i': "ujko", 'j': "huikmn", 'k': "jiolm", 'l': "kop",
	'm': "njk", 'n': "bhjm", 'o': "iklp", 'p': "ol", 'q': "wa", 'r': "edft",
	's': "awedxz", 't': "rfgy", 'u': "yhji", 'v': "cfgb", 'w': "qase", 'x': "zsdc",
	'y': "tghu", 'z': "asx",
}
