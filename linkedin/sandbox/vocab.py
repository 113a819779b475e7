"""Word lists the world generator draws from. Plain data; order matters (generation is seeded)."""

from __future__ import annotations

# Word lists read best packed: keep the formatter out.
# fmt: off

# Mostly ASCII, with enough accented and non-Latin names that non-ASCII slugs are common in the world.
FIRST_NAMES: tuple[str, ...] = (
    "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hugo", "Ida", "Jonas", "Karla", "Lars",
    "Maria", "Nina", "Oskar", "Paula", "Rafael", "Sara", "Tobias", "Ulla", "Vera", "William", "Yara",
    "Adam", "Alice", "Amelia", "Andrea", "Arjun", "Ava", "Carlos", "Chen", "Daniel", "Diana", "Elena",
    "Ethan", "Fatima", "Gabriel", "Hannah", "Isabel", "Jack", "James", "Julia", "Kenji", "Laura", "Leo",
    "Liam", "Lucas", "Maya", "Mia", "Noah", "Olivia", "Omar", "Priya", "Rosa", "Samuel", "Sofia", "Thomas",
    "Victor", "Wei", "Zara", "Aisha", "Mateo", "Nadia", "Pedro", "Ravi", "Sven", "Tara", "Jürgen", "Zoë",
    "José", "François", "Søren", "Łukasz", "Björn", "Chloé", "Renée", "Mónica", "Ángel", "Agnieszka",
    "Çağla", "Dušan", "Ønne", "Małgorzata", "Håkon", "Inès", "Noémie", "Jiří",
)

LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Brown", "Taylor", "Anderson", "Martin", "Thompson", "Garcia", "Martinez",
    "Robinson", "Clark", "Lewis", "Walker", "Hall", "Allen", "Young", "King", "Wright", "Scott", "Green",
    "Baker", "Adams", "Nelson", "Carter", "Mitchell", "Perez", "Roberts", "Turner", "Phillips", "Campbell",
    "Parker", "Evans", "Edwards", "Collins", "Stewart", "Morris", "Rogers", "Reed", "Cook", "Morgan",
    "Bell", "Murphy", "Bailey", "Rivera", "Cooper", "Richardson", "Cox", "Howard", "Ward", "Torres",
    "Peterson", "Gray", "Ramirez", "Watson", "Brooks", "Kelly", "Sanders", "Price", "Bennett", "Wood",
    "Schmidt", "Schneider", "Fischer", "Weber", "Wagner", "Becker", "Hoffmann", "Koch", "Richter", "Klein",
    "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Dubois", "Moreau", "Laurent", "Simon", "Michel",
    "Müller", "Ławrynowicz", "García", "Núñez", "Østergaard", "Kowalczyk", "Šimić", "Dvořák", "Żak", "Böhm",
    "Gómez", "Lefèvre", "Çelik", "Jäger", "Sørensen", "Wójcik", "Ibáñez", "Håland", "Novák",
)

# People whose exact names and slugs the docs use as examples (ACTIONS.md, API.md); always generated.
SHOWCASE_PEOPLE: tuple[tuple[str, str, str], ...] = (
    ("Jürgen", "Müller", "jürgen-müller-a1b2c3"), ("Zoë", "Ławrynowicz", "zoë-ławrynowicz-7f3e9d"),
    ("José", "Núñez", "josé-núñez-4c5d6e"), ("Søren", "Østergaard", "søren-østergaard-9a8b7c"),
    ("François", "Lefèvre", "françois-lefèvre"), ("娜", "李", "李娜-3f2a1b"),
)

TITLES: tuple[str, ...] = (
    "Software Engineer", "Senior Software Engineer", "Data Engineer", "Machine Learning Engineer",
    "DevOps Engineer", "Site Reliability Engineer", "Frontend Engineer", "Backend Engineer",
    "Engineering Manager", "Product Manager", "Senior Product Manager", "Product Designer", "UX Researcher",
    "Data Scientist", "Data Analyst", "Head of Sales", "Account Executive",
    "Sales Development Representative", "Customer Success Manager", "Marketing Manager", "Growth Marketer",
    "Content Strategist", "Recruiter", "Talent Acquisition Partner", "HR Business Partner",
    "Chief Executive Officer", "Chief Technology Officer", "Founder", "Co-Founder", "Operations Manager",
    "Financial Analyst", "Controller", "Legal Counsel", "Project Manager", "Business Analyst",
    "Solutions Architect", "Consultant", "Brand Manager",
)

# Headline shapes; {title} and {company} are filled in. Several do not contain the letter 'a' on their own.
HEADLINE_TEMPLATES: tuple[str, ...] = (
    "{title} at {company}", "{title} @ {company}", "{title} | {company}",
    "{title} — building things at {company}", "{title}. Previously {previous}.",
)

INDUSTRIES: tuple[str, ...] = (
    "Software Development", "IT Services and IT Consulting", "Financial Services", "Banking",
    "Hospitals and Health Care", "Retail", "Manufacturing", "Telecommunications", "Higher Education",
    "Marketing Services", "Staffing and Recruiting", "Biotechnology Research", "Automotive",
    "Renewable Energy", "Logistics", "Media Production", "Insurance", "Real Estate",
)

COMPANY_PREFIXES: tuple[str, ...] = (
    "Northwind", "Bluefin", "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne",
    "Cyberdyne", "Soylent", "Tyrell", "Oscorp", "Aperture", "Black Mesa", "Massive", "Gringotts", "Monarch",
    "Nakatomi", "Pied Piper", "Dunder", "Wonka", "Zorg", "Virtucon", "Krusty", "Gekko", "Sterling",
    "Blue Sun", "Weyland", "Duff", "Prestige", "Bright", "Silver", "Polar", "Crimson", "Emerald", "Quantum",
    "Helix", "Nimbus", "Orion", "Atlas", "Vertex", "Lumen", "Kestrel", "Juniper", "Cobalt", "Müller",
    "Škoda", "Nørd", "Zürich",
)

COMPANY_SUFFIXES: tuple[str, ...] = (
    "Analytics", "Robotics", "Systems", "Labs", "Health", "Capital", "Logistics", "Energy", "Media",
    "Software", "Networks", "Foods", "Motors", "Bank", "Insurance", "Consulting",
)

EMPLOYEE_RANGES: tuple[tuple[int, int | None], ...] = (
    (1, 10), (11, 50), (51, 200), (201, 500), (501, 1000), (1001, 5000), (5001, 10000), (10001, None),
)

# (city, region/country) with a stable geo id each, like LinkedIn's geoUrn.
LOCATIONS: tuple[tuple[int, str], ...] = (
    (103644278, "United States"), (102277331, "San Francisco, California, United States"),
    (105080838, "New York, New York, United States"), (104116203, "Seattle, Washington, United States"),
    (102748797, "Austin, Texas, United States"), (102257491, "London, England, United Kingdom"),
    (105015875, "Paris, Île-de-France, France"), (106967730, "Berlin, Germany"),
    (100477049, "Munich, Bavaria, Germany"), (106693272, "Zürich, Switzerland"),
    (102890719, "Amsterdam, North Holland, Netherlands"), (100994331, "Madrid, Community of Madrid, Spain"),
    (107025191, "Barcelona, Catalonia, Spain"), (103350119, "Milan, Lombardy, Italy"),
    (105076658, "Kraków, Małopolskie, Poland"), (103105044, "Warsaw, Mazowieckie, Poland"),
    (100506914, "Copenhagen, Capital Region of Denmark, Denmark"), (106686604, "Stockholm, Sweden"),
    (104853962, "Oslo, Norway"), (104035573, "Dublin, County Dublin, Ireland"),
    (104738515, "Lisbon, Portugal"), (100364837, "Prague, Czechia"), (102454443, "Singapore"),
    (103291313, "Tokyo, Japan"), (105214831, "Bengaluru, Karnataka, India"),
    (104769905, "São Paulo, Brazil"), (101174742, "Toronto, Ontario, Canada"),
    (103366113, "Sydney, New South Wales, Australia"), (106204383, "Istanbul, Türkiye"),
    (104305776, "Dubai, United Arab Emirates"),
)

SCHOOLS: tuple[str, ...] = (
    "Stanford University", "Massachusetts Institute of Technology", "University of Cambridge", "ETH Zürich",
    "Technische Universität München", "Sorbonne Université", "Politecnico di Milano",
    "Uniwersytet Jagielloński", "University of Toronto", "National University of Singapore",
    "Universidad Complutense de Madrid", "KTH Royal Institute of Technology", "University of Tokyo",
    "Indian Institute of Technology Bombay", "Universidade de São Paulo", "Trinity College Dublin",
)

DEGREES: tuple[str, ...] = (
    "Bachelor of Science", "Master of Science", "Bachelor of Arts", "MBA", "PhD",
)

FIELDS_OF_STUDY: tuple[str, ...] = (
    "Computer Science", "Economics", "Mechanical Engineering", "Business Administration", "Mathematics",
    "Psychology", "Marketing", "Physics", "Law", "Design",
)

SKILLS: tuple[str, ...] = (
    "Python", "Java", "TypeScript", "Go", "Rust", "SQL", "PostgreSQL", "Kubernetes", "Docker", "AWS",
    "Machine Learning", "Data Analysis", "Product Management", "Leadership", "Negotiation", "Sales",
    "Marketing Strategy", "SEO", "Recruiting", "Public Speaking", "Project Management",
    "Agile Methodologies", "Financial Modeling", "Accounting", "UX Design", "Figma", "Customer Success",
    "Business Development",
)

MESSAGE_LINES: tuple[str, ...] = (
    "Hi! Great to connect.", "Thanks for reaching out — happy to chat next week.",
    "Did you see the announcement this morning?", "Could you send me the deck when you have a minute?",
    "Congrats on the new role!", "Let's grab a coffee when you're in town.", "Sounds good, talk soon.",
    "I'd love to hear more about what your team is building.",
    "Here is the link I mentioned: https://example.test/notes", "Merci beaucoup, à bientôt !",
    "Vielen Dank für die schnelle Antwort.",
)

INVITATION_NOTES: tuple[str, ...] = (
    "Hi, we met at the meetup last week — would love to stay in touch.",
    "Hello! I enjoyed your post on hiring. Let's connect.", "We work in the same space; happy to connect.",
)
# fmt: on
